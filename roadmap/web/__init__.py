"""The web application: server-rendered French pages and the JSON API, over the same service and typed views."""
