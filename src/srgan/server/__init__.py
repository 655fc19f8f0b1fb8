"""``srgan serve``: an HTTP API and a web page (needs ``pip install 'srgan[serve]'``)."""
