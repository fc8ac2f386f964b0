"""Discovery, the scrape loop, exposition parsing and relabeling."""
