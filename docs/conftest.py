"""pytest collects the Markdown pages here as doctests; the Sphinx machinery is not a test."""

collect_ignore = ["conf.py", "gallery_scraper.py"]
collect_ignore_glob = ["_build/*", "auto_examples/*"]
