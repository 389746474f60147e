"""One refresh-token family for every kind of sign-in (browser and API sessions, app-scoped
tokens of registered apps): issue, rotate with reuse detection, revoke a family, and end every
family of a user. Each kind keeps its own table, built on ``models.RefreshTokenColumns``; the
rules live here once (``service``)."""
