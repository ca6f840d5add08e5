"""The gateway's authorizer: every bad token is 401 (the error envelope) and never reaches the handler."""

import jwt
import pytest

from todo_local.testing.tokens import BAD_TOKEN_CASES

PROTECTED = "/api/v1/users/me"


@pytest.mark.parametrize("case", BAD_TOKEN_CASES)
def test_bad_token_is_401_and_the_handler_never_runs(
    case, api_user, token_forge, anon_client, recording_handler
):
    # given a token (or no token) that breaks exactly one of the authorizer's rules
    header = token_forge.authorization_header(case, api_user)
    headers = {} if header is None else {"Authorization": header}

    # when it calls a protected route
    response = anon_client.get(PROTECTED, headers=headers)

    # then the gateway answers as API Gateway's UNAUTHORIZED gateway response does, on its own
    assert response.status_code == 401, response.text
    assert response.json() == {
        "error": {
            "code": "UNAUTHORIZED",
            "message": "missing, expired or invalid token",
            "request_id": response.headers["x-amzn-RequestId"],
        }
    }
    assert response.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert recording_handler.calls == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_every_method_needs_a_token(method, anon_client, recording_handler):
    response = anon_client.request(method, "/api/v1/tasks/abc", json={"title": "x"})
    assert response.status_code == 401
    assert recording_handler.calls == 0


def test_a_real_id_token_reaches_the_handler_with_its_claims(api_user, recording_handler):
    # given a user signed in through the emulated pool
    response = api_user.client.get(PROTECTED)

    # then the handler ran with the verified claims, as strings
    assert response.status_code == 200, response.text
    claims = recording_handler.last_event["requestContext"]["authorizer"]["claims"]
    assert claims["sub"] == api_user.sub
    assert claims["email"] == api_user.email
    assert claims["token_use"] == "id"
    assert all(isinstance(value, str) for value in claims.values())
    assert response.json()["claims"] == claims


def test_a_forged_token_with_correct_claims_is_accepted(
    api_user, token_forge, anon_client, recording_handler
):
    """Control for the table above: the forge is faithful, so each bad case fails for its one flaw."""
    token = token_forge.signed(token_forge.id_claims(api_user.sub, api_user.email))
    response = anon_client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert recording_handler.last_event["requestContext"]["authorizer"]["claims"]["sub"] == api_user.sub


def test_the_bearer_scheme_is_case_insensitive(api_user, anon_client, recording_handler):
    response = anon_client.get(PROTECTED, headers={"Authorization": f"bearer {api_user.id_token}"})
    assert response.status_code == 200


def test_the_access_token_the_pool_issued_is_genuine_but_refused(api_user):
    # the access_token case above is a real, validly signed token: refused for token_use alone
    claims = jwt.decode(api_user.access_token, options={"verify_signature": False})
    assert claims["token_use"] == "access"
    assert claims["sub"] == api_user.sub


@pytest.mark.parametrize("path", ["/api/health", "/api/docs", "/api/openapi.json"])
def test_public_routes_need_no_token_and_carry_no_claims(path, anon_client, recording_handler):
    response = anon_client.get(path)
    assert response.status_code == 200
    assert "authorizer" not in recording_handler.last_event["requestContext"]


def test_a_public_route_ignores_a_bad_token(anon_client, recording_handler):
    response = anon_client.get("/api/health", headers={"Authorization": "Bearer garbage"})
    assert response.status_code == 200


def test_a_public_path_with_a_write_method_needs_a_token(anon_client, recording_handler):
    response = anon_client.post("/api/health")
    assert response.status_code == 401
    assert recording_handler.calls == 0


def test_each_user_gets_its_own_identity(api_user_factory, recording_handler):
    first, second = api_user_factory(), api_user_factory()
    first.client.get(PROTECTED)
    second.client.get(PROTECTED)
    subs = [e["requestContext"]["authorizer"]["claims"]["sub"] for e in recording_handler.events]
    assert subs == [first.sub, second.sub]
    assert first.sub != second.sub
