"""Personalisation: what to show a customer, from what they did, when they allow it.

Owns the personalised answers the site or app asks for (today: the product categories to feature,
``categories``; recommendations will join them) and their HTTP routes. Every answer asks the privacy gate
(``privacy.gate``) whether the customer allows ``personalisation``; without it, the answer is the
non-personal one (what is popular with everyone), and says so.
"""
