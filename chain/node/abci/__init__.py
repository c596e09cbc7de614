"""The ABCI 2.0 side of the node: CometBFT's socket protocol (``framing``, ``server``) and the application over our
``Chain`` (``app``); ``proto`` holds the message classes generated from CometBFT's own .proto files."""
