"""The user pool's password policy: the Api stack's Cognito pool and the local pool both use it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PasswordPolicy:
    """What a password must contain, and how long an administrator-set password lasts."""

    min_length: int = 12
    require_lowercase: bool = True
    require_uppercase: bool = True
    require_digits: bool = True
    require_symbols: bool = True
    temporary_password_days: int = 3

    def as_cognito_api(self) -> dict[str, int | bool]:
        """The policy as Cognito's CreateUserPool API spells it (`Policies.PasswordPolicy`)."""
        return {
            "MinimumLength": self.min_length,
            "RequireUppercase": self.require_uppercase,
            "RequireLowercase": self.require_lowercase,
            "RequireNumbers": self.require_digits,
            "RequireSymbols": self.require_symbols,
            "TemporaryPasswordValidityDays": self.temporary_password_days,
        }


PASSWORD_POLICY = PasswordPolicy()
