"""What kmon's commands do, one module per family; the parser in ``kmon.cli`` picks
the handler. Handlers import TensorFlow, textual and most of the engine inside the
function, so that parsing stays instant."""
