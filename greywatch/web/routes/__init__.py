"""Routers of the web workspace: every module here with a `router` is included by
`greywatch.web.app.create_app`, in module-name order."""
