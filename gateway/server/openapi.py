"""The OpenAPI description of the public JSON intake, built from the live configuration."""

from __future__ import annotations

from typing import Any

from gateway.settings import Settings


def openapi_document(settings: Settings) -> dict[str, Any]:
    wf = settings.channels.webform
    error = {"$ref": "#/components/schemas/Error"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Intake Gateway",
            "version": "1",
            "description": "Submit requests to the district service desk from a form, a site or a script.",
        },
        "paths": {
            "/hooks/webform": {
                "post": {
                    "summary": "Submit a request",
                    "security": [{"bearer": []}, {"signature": []}],
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": (
                                "With a bearer token: repeat a post with the same key and it is taken once. "
                                "Not signed, so a signed post ignores it and is taken once per body."
                            ),
                            "schema": {"type": "string", "maxLength": 200},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Submission"}}},
                    },
                    "responses": {
                        "202": {
                            "description": "Stored durably; a ticket follows.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
                        },
                        "400": {"description": "Body is not JSON", "content": {"application/json": {"schema": error}}},
                        "401": {
                            "description": (
                                "Bad or missing credentials, a signature timestamp more than 300 s from the "
                                "gateway's clock, or a sha256= signature from a source not marked legacy"
                            ),
                            "content": {"application/json": {"schema": error}},
                        },
                        "413": {"description": "Body too large"},
                        "421": {
                            "description": "No public_base_url is configured and the Host header is not this "
                            "gateway's own address: no status link is built from it",
                            "content": {"application/json": {"schema": error}},
                        },
                        "422": {
                            "description": "Invalid fields, named, with valid values for closed lists",
                            "content": {"application/json": {"schema": error}},
                        },
                        "429": {
                            "description": "Too many requests from this client, or naming this email address or "
                            "phone number; nothing stored. Retry after the Retry-After header's seconds",
                            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                            "content": {"application/json": {"schema": error}},
                        },
                        "503": {"description": "Cannot store now; retry"},
                    },
                }
            },
            "/status/{token}": {
                "get": {
                    "summary": "The requester's status page (HTML)",
                    "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Status page"}, "404": {"description": "Unknown link"}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "The form source's token"},
                "signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Intake-Signature",
                    "description": (
                        "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>' with the source's signing "
                        "secret>; refused more than 300 s from the gateway's clock. A source marked "
                        "legacy_signature may send sha256=<hex HMAC-SHA256 of the raw body> instead."
                    ),
                },
            },
            "schemas": {
                "Submission": {
                    "type": "object",
                    "required": ["category", "message"],
                    "description": "Give an email address, a phone number, or both.",
                    "properties": {
                        "name": {"type": "string", "maxLength": 200},
                        "email": {"type": "string", "format": "email"},
                        "phone": {"type": "string", "description": "E.164, or a national number"},
                        "category": {"type": "string", "enum": [c.id for c in wf.categories]},
                        "school": {"type": "string", "enum": [s.id for s in wf.schools]},
                        "subject": {"type": "string", "maxLength": 300},
                        "message": {"type": "string", "minLength": 1, "maxLength": 20000},
                        "language": {"type": "string", "description": f"BCP-47; replies in {sorted(wf.languages)}"},
                        "attachments": {
                            "type": "array",
                            "maxItems": 10,
                            "items": {
                                "type": "object",
                                "required": ["filename", "data_base64"],
                                "properties": {
                                    "filename": {"type": "string"},
                                    "content_type": {"type": "string"},
                                    "data_base64": {"type": "string", "contentEncoding": "base64"},
                                },
                            },
                        },
                    },
                },
                "Accepted": {
                    "type": "object",
                    "required": ["request_id", "status_url"],
                    "properties": {"request_id": {"type": "string"}, "status_url": {"type": "string"}},
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                        "valid": {"type": "object", "additionalProperties": {"type": "array"}},
                        "retry_after": {"type": "integer", "description": "with 429: seconds to wait"},
                    },
                },
            },
        },
    }
