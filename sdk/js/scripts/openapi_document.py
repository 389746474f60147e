"""Print sellerhub's OpenAPI document (JSON) as the app factory builds it, without a database:
the input of ``npm run generate`` (src/generated/api.d.ts). Run with the repository's Python."""

from __future__ import annotations

import json
import sys

from sellerhub.app import create_app
from sellerhub.config import Environment, Settings
from sellerhub.core.crypto import generate_key_entry


def document() -> dict[str, object]:
    settings = Settings(
        env=Environment.TEST,
        database_url="postgresql://nobody@127.0.0.1:1/none",
        encryption_keys=generate_key_entry("doc"),
        emulators=True,
        _env_file=None,
    )
    return create_app(settings).openapi()


if __name__ == "__main__":
    json.dump(document(), sys.stdout, sort_keys=True)
