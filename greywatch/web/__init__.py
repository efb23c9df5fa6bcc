"""The web workspace: browse, review and export leads from a browser (`greywatch web`)."""
