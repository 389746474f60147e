"""Provider emulators: local, stateful stand-ins that speak the providers' wire formats.

Each emulator follows docs/providers.md (shared/) for every path, parameter, header, response
field and error shape it implements, and exposes the control surface of api-contract.md §4
(``_admin/stats``, ``config``, ``expire``, ``revoke``, ``reset``). Build the ASGI app with
``sellerhub_emulators.app.create_emulators_app``.

A package of its own beside ``sellerhub`` (same repository and install), not part of the product
package. Nothing in the server code paths imports it (architecture.md §4): it is imported at one
development mount point only, in ``sellerhub.app`` when ``SELLERHUB_EMULATORS`` is on (never in
production), and by the ``sellerhub emulators`` command that serves it alone. From ``sellerhub``
it takes only ``__version__``.
"""
