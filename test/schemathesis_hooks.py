"""schemathesis hooks for Hermes (loaded through SCHEMATHESIS_HOOKS by the suite's run).

Each one makes a *schema-valid* case into what a real client sends, where the rule is one a
JSON Schema cannot state. Negative (invalid) parts of a case are left alone, so every check,
negative data rejection included, still sees what schemathesis generated.
"""

import hashlib
import hmac
import json
import os
import time
import uuid

import schemathesis

BPS = 10_000
WEIGHTS = ("price", "performance", "speed", "reputation")
WEBHOOK_PATH = "/api/v1/webhooks/stripe"
CONVERSATIONS_PATH = "/api/v1/a2a/conversations"
CONTRACTS_PATH = "/api/v1/contracts"


def _whole(v):
    # JSON Schema's integers include 274.0, which schemathesis sends.
    return isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer()


def _fixed_weights(weights):
    # Award weights are basis points that sum to 10000: the last one takes up the rest.
    if not isinstance(weights, dict) or not all(_whole(weights.get(k)) for k in WEIGHTS):
        return None
    fixed, rest = dict(weights), BPS
    for k in WEIGHTS[:-1]:
        fixed[k] = int(min(weights[k], rest))
        rest -= fixed[k]
    fixed[WEIGHTS[-1]] = rest
    return fixed


def _without_proto(value):
    # The API's JSON parser refuses objects with a `__proto__` key, at any depth (prototype
    # pollution): a client's free-form JSON (context, output, input, message bodies) has none.
    if isinstance(value, dict):
        return {k: _without_proto(v) for k, v in value.items() if k != "__proto__"}
    if isinstance(value, list):
        return [_without_proto(v) for v in value]
    return value


def _all_positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive and not any(c.mode.is_negative for c in meta.components.values())


@schemathesis.hook
def before_call(ctx, case, kwargs):
    # Runs for every case of every phase, before the case is serialized. Parts are replaced, never
    # changed in place: hypothesis may share generated values between cases.
    # An id taken from a null field by a stateful link ("None") is no id: use one that exists nowhere.
    if case.path_parameters and any(v is None or v == "None" for v in case.path_parameters.values()):
        case.path_parameters = {k: (str(uuid.uuid4()) if v is None or v == "None" else v) for k, v in case.path_parameters.items()}
    if not _all_positive(case):
        # A negative case stays as generated: every part of it is what schemathesis meant.
        return
    headers = dict(case.headers or {})
    # Idempotency-Key: a client sends a new key per request (the same key with another request
    # is the 422 IDEMPOTENCY_KEY_REUSED, which schemathesis would hit by reusing "0").
    if "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    # cursor: only a previous page hands one out; a made-up one is 400 INVALID_CURSOR.
    if case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    if isinstance(case.body, dict):
        body = _without_proto(case.body)
        weights = _fixed_weights(body.get("weights"))
        if weights is not None:
            body["weights"] = weights
        # Acceptance checks name a schema that ajv can use and a verifier the caller uploaded
        # (400/404 otherwise, rules no request schema states): a real client sends a real schema.
        if case.path == CONTRACTS_PATH and isinstance(body.get("acceptance"), dict):
            on_pass = body["acceptance"].get("on_pass")
            body["acceptance"] = {"output_schema": {"type": "object"}, "on_pass": on_pass if on_pass in ("review", "settle") else "review"}
        # An agent cannot start a conversation with itself (400): a rule about the caller.
        if case.path == CONVERSATIONS_PATH and body.get("agent_id") == os.environ.get("HERMES_AGENT_ID"):
            body["agent_id"] = str(uuid.uuid4())
        case.body = body
        # Stripe signs the exact bytes it sends: sign the event the way Stripe does,
        # t=<unix seconds>,v1=HMAC-SHA256(secret, "t.body"), over the bytes requests will send
        # (json.dumps with allow_nan=False, UTF-8), so it reaches the handler.
        secret = os.environ.get("HERMES_STRIPE_WEBHOOK_SECRET")
        if case.path == WEBHOOK_PATH and secret and "Stripe-Signature" in headers:
            raw = json.dumps(body, allow_nan=False).encode()
            stamp = str(int(time.time()))
            headers["Stripe-Signature"] = f"t={stamp},v1={hmac.new(secret.encode(), stamp.encode() + b'.' + raw, hashlib.sha256).hexdigest()}"
    if case.headers is not None:
        case.headers = type(case.headers)(headers)
