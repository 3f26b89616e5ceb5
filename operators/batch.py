"""``blender --background --command relit …``: the same CLI as ``python -m inference``."""


def run(argv: list[str]) -> int:
    from ..inference import cli

    return cli.main(list(argv), prog="blender --command relit")
