"""Email and offline links: campaigns with their registered destinations, click-redirect links (email,
QR codes, ads, partner banners) and the email open pixel. ``registry`` keeps them; ``routes`` serves
``GET /l/{id}`` and ``GET /o/{campaign}.gif`` on the collector."""
