"""The service description ``GET /swagger.json`` serves for an entry script without its own file.

Written for edgeship, shaped as Azure ML's inference server shapes its own (the contract test
compares the parts clients read: the version, ``info`` title and version, every path with its
methods, operation ids and response codes, and the schemas). An undecorated ``run()`` takes and
returns any JSON, so both schemas are an open object. ``SERVICE_NAME``, ``SERVICE_VERSION`` and
``SERVICE_PATH_PREFIX`` are read from the environment, as there.
"""

from __future__ import annotations

import os

from edgeship_sentiment.jsontypes import JSONObject

OPEN_OBJECT: JSONObject = {"type": "object", "example": {}}
ERROR_SCHEMA: JSONObject = {"type": "object", "properties": {"message": {"type": "string"}}}
BEARER: JSONObject = {"type": "apiKey", "name": "Authorization", "in": "header", "description": "Bearer <key or token>"}
FAILED = "The request failed; the body says why."


def _prefix() -> str:
    prefix = os.environ.get("SERVICE_PATH_PREFIX", "").strip("/")
    return f"/{prefix}" if prefix else ""


def _info() -> JSONObject:
    name = os.environ.get("SERVICE_NAME", "ML service")
    return {"title": name, "description": f"Scoring API of {name}", "version": os.environ.get("SERVICE_VERSION", "1.0")}


def swagger2() -> JSONObject:
    prefix = _prefix()
    error: JSONObject = {"description": FAILED, "schema": {"$ref": "#/definitions/ErrorResponse"}}
    return {
        "swagger": "2.0",
        "info": _info(),
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"Bearer": BEARER},
        "paths": {
            f"{prefix}/": {
                "get": {
                    "operationId": "ServiceHealthCheck",
                    "description": "Liveness probe.",
                    "responses": {"200": {"description": "Healthy", "schema": {"type": "string"}}, "default": error},
                }
            },
            f"{prefix}/score": {
                "post": {
                    "operationId": "RunMLService",
                    "description": "Score the payload with run().",
                    "security": [{"Bearer": []}],
                    "parameters": [
                        {
                            "name": "serviceInputPayload",
                            "in": "body",
                            "description": "run()'s input",
                            "schema": {"$ref": "#/definitions/ServiceInput"},
                        }
                    ],
                    "responses": {
                        "200": {"description": "run()'s result", "schema": {"$ref": "#/definitions/ServiceOutput"}},
                        "default": error,
                    },
                }
            },
            f"{prefix}/swagger.json": {
                "get": {
                    "operationId": "GetSwaggerSpec",
                    "description": "This document.",
                    "parameters": [
                        {"name": "version", "in": "query", "required": False, "type": "integer", "enum": [2, 3]}
                    ],
                    "responses": {
                        "200": {"description": "The document", "schema": {"type": "string"}},
                        "default": error,
                    },
                }
            },
        },
        "definitions": {"ServiceInput": OPEN_OBJECT, "ServiceOutput": OPEN_OBJECT, "ErrorResponse": ERROR_SCHEMA},
    }


def openapi3(version: str = "3.0.3") -> JSONObject:
    prefix = _prefix()
    error: JSONObject = {
        "description": FAILED,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }

    def json_of(ref: str) -> JSONObject:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}

    text: JSONObject = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "openapi": version,
        "info": _info(),
        "security": [{"Bearer": []}],
        "paths": {
            f"{prefix}/": {
                "get": {
                    "operationId": "ServiceHealthCheck",
                    "description": "Liveness probe.",
                    "responses": {"200": {"description": "Healthy", "content": text}, "default": error},
                }
            },
            f"{prefix}/score": {
                "post": {
                    "operationId": "RunMLService",
                    "description": "Score the payload with run().",
                    "security": [{"Bearer": []}],
                    "requestBody": {"description": "run()'s input", "content": json_of("ServiceInput")},
                    "responses": {
                        "200": {"description": "run()'s result", "content": json_of("ServiceOutput")},
                        "default": error,
                    },
                }
            },
            f"{prefix}/swagger.json": {
                "get": {
                    "operationId": "GetSwaggerSpec",
                    "description": "This document.",
                    "parameters": [
                        {
                            "name": "version",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "enum": [2, 3]},
                        }
                    ],
                    "responses": {"200": {"description": "The document", "content": text}, "default": error},
                }
            },
        },
        "components": {
            "schemas": {"ServiceInput": OPEN_OBJECT, "ServiceOutput": OPEN_OBJECT, "ErrorResponse": ERROR_SCHEMA},
            "securitySchemes": {"Bearer": BEARER},
        },
    }


def generated(canonical: str) -> JSONObject:
    """The document for ``2``, ``3`` or ``3.1``."""
    if canonical == "2":
        return swagger2()
    return openapi3("3.1.0" if canonical == "3.1" else "3.0.3")
