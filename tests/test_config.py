"""Settings: production refuses unsafe configuration and says which setting, in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sellerhub.config import ConfigurationError, Environment, Settings
from sellerhub.core.crypto import generate_key_entry

SAFE = {
    "env": Environment.PRODUCTION,
    "secret_key": "s" * 40,
    "encryption_keys": generate_key_entry("prod1"),
    "emulators": False,
    "database_url": "postgresql://app@db.example/sellerhub",
    "seed_admin_password": "a-real-password-123",
    "public_url": "https://sellerhub.example.com",
    "lwa_client_id": "amzn1.application-oa2-client.real",
    "lwa_client_secret": "real-lwa-secret",
    "lwa_authorize_url": "https://www.amazon.com/ap/oa",
    "lwa_token_url": "https://api.amazon.com/auth/o2/token",
    "lwa_profile_url": "https://api.amazon.com/user/profile",
    "spapi_client_secret": "real-spapi-secret",
    "spapi_consent_url": "https://sellercentral.amazon.com/apps/authorize/consent",
    "spapi_endpoint_na": "https://sellingpartnerapi-na.amazon.com",
    "spapi_endpoint_eu": "https://sellingpartnerapi-eu.amazon.com",
    "spapi_endpoint_fe": "https://sellingpartnerapi-fe.amazon.com",
    "ads_client_secret": "real-ads-secret",
    "shopify_client_secret": "real-shopify-secret",
    "shopify_shop_url_template": "https://{shop}",
    "stripe_webhook_secret": "whsec_real",
    "stripe_secret_key": "sk_live_" + "r" * 24,
    "stripe_publishable_key": "pk_live_" + "r" * 24,
    "ads_authorize_urls": {r: "https://www.amazon.com/ap/oa" for r in ("na", "eu", "fe")},
    "ads_token_urls": {r: "https://api.amazon.com/auth/o2/token" for r in ("na", "eu", "fe")},
    "ads_api_urls": {r: "https://advertising-api.amazon.com" for r in ("na", "eu", "fe")},
    "fedex_api_url": "https://apis.fedex.com",
    "fedex_sandbox_api_url": "https://apis-sandbox.fedex.com",
    "dhl_api_url": "https://api.dhlecs.com",
    "dhl_sandbox_api_url": "https://api-sandbox.dhlecs.com",
}


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests describe settings explicitly; the CI's own SELLERHUB_* must not leak in."""
    for name in list(os.environ):
        if name.startswith("SELLERHUB_"):
            monkeypatch.delenv(name)


def _settings(**overrides: object) -> Settings:
    values = {**SAFE, **overrides}
    return Settings(**{k: v for k, v in values.items() if v is not None}, _env_file=None)  # type: ignore[arg-type]


def test_safe_production_configuration_passes() -> None:
    _settings().check()


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ({"secret_key": None}, "SELLERHUB_SECRET_KEY"),
        ({"secret_key": "short"}, "SELLERHUB_SECRET_KEY"),
        ({"encryption_keys": None}, "SELLERHUB_ENCRYPTION_KEYS"),
        ({"emulators": True}, "SELLERHUB_EMULATORS"),
        ({"database_url": None}, "SELLERHUB_DATABASE_URL"),
        ({"public_url": "http://sellerhub.example.com"}, "SELLERHUB_PUBLIC_URL"),
        ({"lwa_client_secret": None}, "SELLERHUB_LWA_CLIENT_SECRET"),
        ({"lwa_token_url": None}, "SELLERHUB_LWA_TOKEN_URL"),
        ({"stripe_secret_key": None}, "SELLERHUB_STRIPE_SECRET_KEY"),
        ({"stripe_publishable_key": None}, "SELLERHUB_STRIPE_PUBLISHABLE_KEY"),
    ],
)
def test_production_refuses_unsafe_settings(override: dict[str, object], names: str) -> None:
    settings = _settings(**override)
    with pytest.raises(ConfigurationError) as info:
        settings.check()
    message = str(info.value)
    assert names in message and "\n" not in message


def test_development_defaults_are_allowed() -> None:
    settings = Settings(_env_file=None)
    assert settings.env is Environment.DEVELOPMENT and settings.emulators_enabled
    settings.check()


def test_cli_fails_fast_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_ENV": "production",
        "SELLERHUB_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "sellerhub", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        "configuration error: SELLERHUB_SECRET_KEY is the development default or "
        "shorter than 32 characters"
    ]


def test_cli_rejects_malformed_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_PORT": "not-a-port"
    }
    proc = subprocess.run(
        [sys.executable, "-m", "sellerhub", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("configuration error:") and "port" in proc.stderr


def test_run_refuses_production(tmp_path: Path) -> None:
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")}
        | {
            f"SELLERHUB_{k.upper()}": json.dumps(v) if isinstance(v, dict) else str(v)
            for k, v in SAFE.items()
            if k != "env"
        }
        | {"SELLERHUB_ENV": "production", "SELLERHUB_EMULATORS": "false"}
    )
    proc = subprocess.run(
        [sys.executable, "-m", "sellerhub", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "for development" in proc.stderr


def test_production_defaults_emulators_off() -> None:
    assert _settings(emulators=None).emulators_enabled is False
