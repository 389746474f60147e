"""The texts of the account mails. Subjects never carry a code: they are logged."""

from __future__ import annotations

from dataclasses import dataclass

from sellerhub.identity.accounts.codes import CODE_TTL


@dataclass(frozen=True)
class MailText:
    subject: str
    body: str


_MINUTES = int(CODE_TTL.total_seconds() // 60)


def verification_code(code: str, public_url: str) -> MailText:
    return MailText(
        subject="Confirm your email address for sellerhub",
        body=(
            f"Your verification code is {code}\n\n"
            f"Enter it where you signed up at {public_url}. It expires in {_MINUTES} minutes "
            "and can be used once.\n\n"
            "If you did not create a sellerhub account, ignore this message.\n"
        ),
    )


def reset_code(code: str, public_url: str) -> MailText:
    return MailText(
        subject="Reset your sellerhub password",
        body=(
            f"Your password reset code is {code}\n\n"
            f"Enter it with your new password at {public_url}. It expires in {_MINUTES} "
            "minutes and can be used once. Resetting signs you out on every device.\n\n"
            "If you did not ask to reset your password, ignore this message: your password "
            "stays as it is.\n"
        ),
    )


def signup_attempt(public_url: str) -> MailText:
    return MailText(
        subject="Someone tried to sign up to sellerhub with your address",
        body=(
            "Someone just tried to create a sellerhub account with this email address, but an "
            "account with it already exists.\n\n"
            f"If it was you, sign in at {public_url}, or reset your password there if you "
            "forgot it. If it was not you, you can ignore this message: nothing has changed.\n"
        ),
    )
