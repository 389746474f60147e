"""Cross-app identity: registered apps of the same company share the sellerhub login. They get
app-scoped JWTs (audience = app id) for a signed-in user, validate and refresh them with their
client credentials, read the user, create credit-only accounts, and (service apps) get
service-to-service tokens through the client-credentials grant at ``/oauth/token``."""
