"""The connection domain's HTTP endpoints, one router per module: connections (list, test,
disconnect, carrier credentials, proxy), Amazon SP-API/Ads consent, the Shopify install, the
WooCommerce key grant and manual credentials. They translate HTTP to calls of
``connections/service.py`` and ``connections/flows/`` and results to responses."""
