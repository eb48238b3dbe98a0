"""The bundled demo: one working day of a small Japanese company hit by an Emotet-style mail.

``write_demo_data`` (in :mod:`sekimori.demo.generate`) writes mail, Windows
events, Zeek logs, threat-intel feeds and a site file that ``sekimori hunt``
reads like any other input. The data is generated from a fixed seed (the
same bytes on every run) and inert: the bad side lives in TEST-NET addresses
and ``.invalid``/``.example`` names, encoded commands decode to harmless text.
"""
