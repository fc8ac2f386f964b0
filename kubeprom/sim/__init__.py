"""Virtual-time scenario runner."""
