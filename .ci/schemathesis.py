#!/usr/bin/env python3
"""Helpers for .ci/schemathesis (standard library only).

  schemathesis.py login BASE EMAIL PASSWORD
      Print an access token.
  schemathesis.py register BASE
      Register a throwaway customer and print its access token.
  schemathesis.py fixtures BASE EMAIL PASSWORD OUT_TOML [PROBABILITY]
      Sign in as the demo admin, pick or create one real resource of every
      kind (a "keep" one for GET/PATCH/PUT/POST and a "victim" one for
      DELETE), and write a schemathesis.toml that feeds their ids to the
      operations' path parameters (each with PROBABILITY, the rest stays
      generated). Best effort: a fixture that cannot be made is reported
      and left out.
  schemathesis.py summary NDJSON...
      Print the failures of schemathesis NDJSON reports, one line per
      (operation, check, message), with an example request and response.
"""

import base64
import gzip
import json
import sys
import urllib.error
import urllib.request
import uuid


def call(base, method, path, body=None, token=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    return status, parsed


def expect(result, what):
    status, body = result
    if status not in (200, 201, 204):
        raise RuntimeError(f"{what}: {status} {str(body)[:300]}")
    return body


def login(base, email, password):
    body = expect(call(base, "POST", "/api/v1/auth/login", {"email": email, "password": password}), "login")
    return body["access_token"]


def register(base):
    email = f"st-{uuid.uuid4().hex[:12]}@example.com"
    body = expect(
        call(base, "POST", "/api/v1/auth/register",
             {"email": email, "password": "st-" + uuid.uuid4().hex, "full_name": "Schemathesis Eraser"}),
        "register",
    )
    return body["access_token"]


# The test payment provider's cards: paid, declined, insufficient funds.
TEST_CARDS = ["4242424242424242", "4000000000000002", "4000000000009995"]

ADDRESS = {"full_name": "Ada Lovelace", "line1": "1 Main Street", "city": "Berlin", "postal_code": "10999",
           "country": "DE"}


def fixtures(base, email, password):
    """{fixture name: [values]}, and the names that could not be made."""
    token = login(base, email, password)
    found, missing = {}, []

    def get(path):
        return expect(call(base, "GET", path, token=token), "GET " + path)

    def post(path, body, headers=None):
        return expect(call(base, "POST", path, body, token=token, headers=headers), "POST " + path)

    def items(page):
        return page["items"] if isinstance(page, dict) and "items" in page else page

    def step(names, make):
        try:
            values = make()
            for name, value in zip(names, values):
                if value is None:
                    missing.append(name)
                else:
                    found[name] = value if isinstance(value, list) else [value]
        except Exception as e:  # noqa: BLE001 - report and carry on
            print(f"schemathesis fixtures: could not make {', '.join(names)}: {e}", file=sys.stderr)
            missing.extend(names)

    products = items(get("/api/v1/admin/products?per_page=50"))
    with_images = [p for p in products if p.get("images")]
    with_variants = [p for p in products if len(p.get("variants") or []) >= 2]
    keep = products[0]
    victim = products[1]

    step(["product", "product_ref", "variant", "sku", "image"], lambda: (
        keep["id"], [keep["id"], keep["slug"]], keep["variants"][0]["id"], keep["variants"][0]["sku"],
        keep["images"][0]["id"] if keep.get("images") else None))
    step(["victim_product"], lambda: (victim["id"],))
    image_owner = next((p for p in with_images if p["id"] not in (keep["id"], victim["id"])), None)
    step(["image_product", "victim_image"], lambda: (
        (image_owner["id"], image_owner["images"][-1]["id"]) if image_owner else (None, None)))
    variant_owner = next((p for p in with_variants if p["id"] not in (keep["id"], victim["id"])), None)
    step(["variant_product", "victim_variant"], lambda: (
        (variant_owner["id"], variant_owner["variants"][-1]["id"]) if variant_owner else (None, None)))

    # Body fields that must name something real for a request to get anywhere.
    step(["variant_ids", "product_ids"], lambda: (
        [p["variants"][0]["id"] for p in products[2:8] if p.get("variants")], [p["id"] for p in products[2:8]]))
    found["ratings"] = [1, 2, 3, 4, 5]
    found["quantities"] = [1, 2, 3]
    step(["category"], lambda: (items(get("/api/v1/admin/categories"))[0]["id"],))
    step(["victim_category"], lambda: (post("/api/v1/admin/categories", {"name": "Schemathesis victim"})["id"],))
    step(["discount"], lambda: (items(get("/api/v1/admin/discounts"))[0]["id"],))
    step(["victim_discount"], lambda: (
        post("/api/v1/admin/discounts", {"code": "STVICTIM" + uuid.uuid4().hex[:6].upper(), "kind": "percentage", "value": 5})["id"],))
    step(["seller"], lambda: (items(get("/api/v1/admin/sellers"))[0]["id"],))
    step(["victim_seller"], lambda: (post("/api/v1/admin/sellers", {"name": "Schemathesis victim"})["id"],))
    step(["shipping_method"], lambda: (items(get("/api/v1/admin/shipping-methods"))[0]["id"],))
    step(["victim_shipping_method"], lambda: (post("/api/v1/admin/shipping-methods", {
        "code": "st-victim-" + uuid.uuid4().hex[:6], "name": "Schemathesis victim", "price": {"amount": 100, "currency": "USD"}})["id"],))
    step(["store"], lambda: (items(get("/api/v1/admin/stores"))[0]["id"],))
    step(["victim_store"], lambda: (post("/api/v1/admin/stores", {
        "name": "Schemathesis victim", "line1": "1 Main Street", "city": "Berlin", "postal_code": "10999",
        "country": "DE", "latitude": 52.5, "longitude": 13.4})["id"],))
    step(["tax_rate"], lambda: (items(get("/api/v1/admin/tax-rates"))[0]["id"],))
    step(["victim_tax_rate"], lambda: (
        post("/api/v1/admin/tax-rates", {"country": "FR", "name": "TVA", "rate_bp": 2000})["id"],))
    reviews = []
    step(["review", "victim_review"], lambda: (
        reviews.extend(items(get("/api/v1/admin/reviews?per_page=2"))) or
        (reviews[0]["id"], reviews[1]["id"] if len(reviews) > 1 else None)))
    step(["customer"], lambda: (
        next(u["id"] for u in items(get("/api/v1/admin/users?role=customer")) if u["email"] != email),))
    step(["address"], lambda: (post("/api/v1/users/me/addresses", ADDRESS)["id"],))
    step(["victim_address"], lambda: (post("/api/v1/users/me/addresses", ADDRESS)["id"],))
    step(["wishlist_product"], lambda: ((post("/api/v1/users/me/wishlist", {"product_id": keep["id"]}), keep["id"])[1],))

    def checkout(variant_id):
        post("/api/v1/cart/items", {"variant_id": variant_id, "quantity": 1})
        body = post("/api/v1/checkout", {"shipping_address": ADDRESS, "payment_provider": "test"},
                    headers={"Idempotency-Key": str(uuid.uuid4())})
        return body["orders"][0]["id"], body["payment"]["id"]

    def paid_order():
        order, payment = checkout(keep["variants"][0]["id"])
        post(f"/api/v1/payments/{payment}/confirm", {"card_number": TEST_CARDS[0]})
        return (order,)

    # A paid order for the order operations (fulfil, refund, move on), a
    # pending one to cancel, and a pending payment to confirm.
    step(["order"], paid_order)
    # The victim product is ordered too: deleting a product that has orders is worth a try.
    step(["victim_order"], lambda: (checkout(victim["variants"][0]["id"])[0],))
    step(["payment"], lambda: (checkout(keep["variants"][0]["id"])[1],))
    found["card_number"] = list(TEST_CARDS)

    def cart_lines():
        cart = post("/api/v1/cart/items", {"variant_id": keep["variants"][0]["id"], "quantity": 1})
        other = products[2]["variants"][0]["id"]
        cart = post("/api/v1/cart/items", {"variant_id": other, "quantity": 1})
        lines = {line["variant_id"]: line["id"] for line in cart["lines"]}
        return lines.get(keep["variants"][0]["id"]), lines.get(other)

    step(["cart_line", "victim_cart_line"], cart_lines)
    return found, missing


# Operation -> {path parameter (or "body.<field>"): fixture}. DELETEs get their own victims so that
# they do not take away what the other operations are fed.
BINDINGS = {
    "GET /api/v1/admin/products/{id}": {"id": "product"},
    "PATCH /api/v1/admin/products/{id}": {"id": "product"},
    "DELETE /api/v1/admin/products/{id}": {"id": "victim_product"},
    "POST /api/v1/admin/products/{id}/images": {"id": "product"},
    "PATCH /api/v1/admin/products/{id}/images/{image_id}": {"id": "product", "image_id": "image"},
    "DELETE /api/v1/admin/products/{id}/images/{image_id}": {"id": "image_product", "image_id": "victim_image"},
    "GET /api/v1/admin/products/{id}/variants": {"id": "product"},
    "POST /api/v1/admin/products/{id}/variants": {"id": "product"},
    "PATCH /api/v1/admin/products/{id}/variants/{variant_id}": {"id": "product", "variant_id": "variant"},
    "DELETE /api/v1/admin/products/{id}/variants/{variant_id}": {"id": "variant_product",
                                                                  "variant_id": "victim_variant"},
    "GET /api/v1/admin/inventory/{sku}": {"sku": "sku"},
    "PUT /api/v1/admin/inventory/{sku}": {"sku": "sku"},
    "POST /api/v1/admin/inventory/{sku}/adjustments": {"sku": "sku"},
    "GET /api/v1/admin/inventory/{sku}/movements": {"sku": "sku"},
    "PATCH /api/v1/admin/categories/{id}": {"id": "category"},
    "DELETE /api/v1/admin/categories/{id}": {"id": "victim_category"},
    "PATCH /api/v1/admin/discounts/{id}": {"id": "discount"},
    "DELETE /api/v1/admin/discounts/{id}": {"id": "victim_discount"},
    "PATCH /api/v1/admin/sellers/{id}": {"id": "seller"},
    "DELETE /api/v1/admin/sellers/{id}": {"id": "victim_seller"},
    "PATCH /api/v1/admin/shipping-methods/{id}": {"id": "shipping_method"},
    "DELETE /api/v1/admin/shipping-methods/{id}": {"id": "victim_shipping_method"},
    "PUT /api/v1/admin/stores/{id}": {"id": "store"},
    "DELETE /api/v1/admin/stores/{id}": {"id": "victim_store"},
    "PATCH /api/v1/admin/tax-rates/{id}": {"id": "tax_rate"},
    "DELETE /api/v1/admin/tax-rates/{id}": {"id": "victim_tax_rate"},
    "PATCH /api/v1/admin/reviews/{id}": {"id": "review"},
    "DELETE /api/v1/admin/reviews/{id}": {"id": "victim_review"},
    "PATCH /api/v1/admin/users/{id}": {"id": "customer"},
    "GET /api/v1/admin/orders/{id}": {"id": "order"},
    "POST /api/v1/admin/orders/{id}/fulfillments": {"id": "order"},
    "POST /api/v1/admin/orders/{id}/refunds": {"id": "order"},
    "POST /api/v1/admin/orders/{id}/transitions": {"id": "order"},
    "GET /api/v1/orders/{id}": {"id": "order"},
    "POST /api/v1/orders/{id}/cancel": {"id": "victim_order"},
    "GET /api/v1/payments/{id}": {"id": "payment"},
    "GET /api/v1/payments/{id}/verify": {"id": "payment"},
    "POST /api/v1/payments/{id}/confirm": {"id": "payment", "body.card_number": "card_number"},
    "GET /api/v1/products/{id_or_slug}": {"id_or_slug": "product_ref"},
    "GET /api/v1/products/{id}/related": {"id": "product"},
    "GET /api/v1/products/{id}/reviews": {"id": "product"},
    "POST /api/v1/products/{id}/reviews": {"id": "product", "body.rating": "ratings"},
    "PATCH /api/v1/users/me/addresses/{id}": {"id": "address"},
    "DELETE /api/v1/users/me/addresses/{id}": {"id": "victim_address"},
    "DELETE /api/v1/users/me/wishlist/{product_id}": {"product_id": "wishlist_product"},
    "POST /api/v1/cart/items": {"body.variant_id": "variant_ids", "body.quantity": "quantities"},
    "POST /api/v1/users/me/wishlist": {"body.product_id": "product_ids"},
    "POST /api/v1/admin/products": {"body.category_id": "category", "body.seller_id": "seller"},
    "PATCH /api/v1/cart/items/{item_id}": {"item_id": "cart_line", "body.quantity": "quantities"},
    "DELETE /api/v1/cart/items/{item_id}": {"item_id": "victim_cart_line"},
}


def toml_string(s):
    return json.dumps(s)  # a JSON string is a valid TOML basic string for these values


def write_config(found, out, probability):
    lines = ["# Written by .ci/schemathesis.py: real ids of the demo shop for path parameters.", ""]
    for name, values in sorted(found.items()):
        lines.append(f"[dictionaries.{name}]")
        lines.append("values = [" + ", ".join(toml_string(v) for v in values) + "]")
        lines.append("")
    for operation, params in BINDINGS.items():
        bound = {p if "." in p else "path." + p: f for p, f in params.items() if f in found}
        if not bound:
            continue
        lines.append("[[operations]]")
        lines.append(f"include-name = {toml_string(operation)}")
        inner = ", ".join(
            f'"{p}" = {{ dictionary = {toml_string(f)}, probability = {probability} }}' for p, f in bound.items()
        )
        lines.append(f"parameters = {{ {inner} }}")
        lines.append("")
    with open(out, "w") as fd:
        fd.write("\n".join(lines))


def body_text(response):
    content = response.get("content") or {}
    if isinstance(content, dict) and "$base64" in content:
        raw = base64.b64decode(content["$base64"])
        encoding = (response.get("headers") or {}).get("content-encoding", [""])[0]
        if encoding == "gzip":
            try:
                raw = gzip.decompress(raw)
            except OSError:
                pass
        return raw.decode("utf-8", "replace")
    return "" if content in ({}, None) else str(content)


def summary(paths):
    groups = {}
    errors = []
    for path in paths:
        with open(path) as fd:
            for line in fd:
                event = json.loads(line)
                if "NonFatalError" in event:
                    e = event["NonFatalError"]
                    value = e.get("value") or {}
                    errors.append(f"{e.get('label')} ({e.get('phase')}): {value.get('type')}: {str(value.get('message'))[:200]}")
                finished = event.get("ScenarioFinished")
                if not finished:
                    continue
                recorder = finished.get("recorder") or {}
                interactions = recorder.get("interactions") or {}
                for case_id, checks in (recorder.get("checks") or {}).items():
                    for check in checks:
                        if check.get("status") != "failure":
                            continue
                        failure = check["failure_info"]["failure"]
                        interaction = interactions.get(case_id) or {}
                        request = interaction.get("request") or {}
                        response = interaction.get("response") or {}
                        message = failure.get("message", "").replace("\n", "; ")
                        if check["name"] == "status_code_conformance":
                            key_message = f"status {response.get('status_code')}"
                        else:
                            key_message = failure.get("title", "") + ": " + message.split(";")[0]
                        key = (failure.get("operation"), check["name"], key_message)
                        group = groups.setdefault(key, {"count": 0, "example": None})
                        group["count"] += 1
                        if group["example"] is None:
                            group["example"] = (
                                request.get("method"), request.get("uri"), response.get("status_code"),
                                ",".join((response.get("headers") or {}).get("content-type", [])),
                                body_text(response)[:240], message[:300],
                            )
    for (operation, check, key_message), group in sorted(groups.items(), key=lambda kv: (kv[0][1], str(kv[0][0]))):
        method, uri, status, content_type, body, message = group["example"]
        print(f"- {operation} [{check}] {key_message} (x{group['count']})")
        print(f"    {method} {uri} -> {status} {content_type}")
        if body:
            print(f"    body: {body}")
        if message and check != "status_code_conformance":
            print(f"    {message}")
    for error in errors:
        print(f"- error: {error}")
    print(f"{len(groups)} distinct failure(s), {len(errors)} error(s)")


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    if command == "login":
        print(login(argv[2], argv[3], argv[4]))
    elif command == "register":
        print(register(argv[2]))
    elif command == "fixtures":
        probability = float(argv[6]) if len(argv) > 6 else 0.5
        found, missing = fixtures(argv[2], argv[3], argv[4])
        write_config(found, argv[5], probability)
        print(f"schemathesis fixtures: {len(found)} made" + (f", missing: {', '.join(missing)}" if missing else ""))
    elif command == "summary":
        summary(argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
