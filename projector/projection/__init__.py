"""The pure projection: event -> change (``project``), a meeting's document
(``render``), and the read model's rules stated plainly (``memory``). No I/O."""
