"""The catalog: an organization's products (SKUs) and where each is listed on its channels."""
