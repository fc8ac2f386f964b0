"""Recording and alerting rules, the notifier and the rule unit-test runner."""
