"""`edgeship package`: Convert a registered Keras model to ONNX."""

from edgeship.cli._pending import pending_command

cli = pending_command("package", 3, "Convert a registered Keras model to ONNX")
