"""Deployment manifests: generate from iotedgedev templates, validate before any device sees them,
and write IoT Hub at-scale deployment documents.

    generated = generate(GenerateOptions(Path("manifests/deployment.template.json"), platform="amd64"))
    report = validate_file(Path("manifests/deployment.amd64.json"), discover_modules(Path("modules")))
"""

from edgeship.manifest.atscale import AtScale, deployment_create_command, deployment_document, set_modules_command
from edgeship.manifest.dotenv import load_dotenv, parse_dotenv
from edgeship.manifest.jsonpos import Document, parse_json
from edgeship.manifest.modulejson import PLATFORMS, Interface, ModuleInfo, discover_modules, load_module_json
from edgeship.manifest.problems import (
    Diagnostic,
    ManifestCheckError,
    ManifestSyntaxError,
    Position,
    Report,
    Severity,
    format_path,
)
from edgeship.manifest.template import Generated, GenerateOptions, generate
from edgeship.manifest.validate import validate_document, validate_file, validate_text

__all__ = [
    "PLATFORMS",
    "AtScale",
    "Diagnostic",
    "Document",
    "GenerateOptions",
    "Generated",
    "Interface",
    "ManifestCheckError",
    "ManifestSyntaxError",
    "ModuleInfo",
    "Position",
    "Report",
    "Severity",
    "deployment_create_command",
    "deployment_document",
    "discover_modules",
    "format_path",
    "generate",
    "load_dotenv",
    "load_module_json",
    "parse_dotenv",
    "parse_json",
    "set_modules_command",
    "validate_document",
    "validate_file",
    "validate_text",
]
