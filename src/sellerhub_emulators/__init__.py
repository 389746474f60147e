"""Provider emulators: local, stateful stand-ins that speak the providers' wire formats.

Each emulator follows docs/providers.md (shared/) for every path, parameter, header, response
field and error shape it implements, and exposes the control surface of api-contract.md §4
(``_admin/stats``, ``config``, ``expire``, ``revoke``, ``reset``). Build the ASGI app with
``sellerhub_emulators.app.create_emulators_app``.

Nothing in the server code paths imports this package (architecture.md §4): the emulators are
mounted only when ``SELLERHUB_EMULATORS`` is on, or served alone by ``sellerhub emulators``.
"""
