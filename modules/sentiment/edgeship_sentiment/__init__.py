"""The sentiment edge module: one scoring core behind IoT Hub, MQTT and HTTP faces.

Runtime needs only: onnxruntime, numpy, azure-iot-device, paho-mqtt 1.6, prometheus-client.
It never imports TensorFlow, the simulator (``edgesim``) or the toolkit (``edgeship``).
"""

from edgeship_sentiment.errors import SentimentModuleError

__all__ = ["SentimentModuleError"]
