from __future__ import annotations

from sellerhub.core.errors import ValidationFailed


class StateInvalid(ValidationFailed):
    status = 400
    code = "invalid-state"
    title = "This sign-in link is not valid"


class StateReplayed(StateInvalid):
    code = "state-replayed"
    title = "This sign-in link was already used"


class StateExpired(StateInvalid):
    code = "state-expired"
    title = "This sign-in link has expired"


class StateWrongBrowser(StateInvalid):
    code = "state-browser-mismatch"
    title = "This sign-in was started in another browser"
    keep_writes = True  # the state is burned: presented by another browser, it is not reusable
