"""Small command-line tools of the runtime package."""
