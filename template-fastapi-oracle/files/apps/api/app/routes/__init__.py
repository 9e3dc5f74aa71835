"""The API's resources, one router per module, mounted under /api in app/main.py."""
