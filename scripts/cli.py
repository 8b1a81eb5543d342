"""The `folio` command line."""

import typer
import uvicorn

app = typer.Typer(
    help="Folio: a publishing backend serving the RealWorld API from MongoDB.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind; 0.0.0.0 to listen on all"),
    port: int = typer.Option(8000, help="TCP port"),
    reload: bool = typer.Option(False, help="restart on code changes (development only)"),
) -> None:
    """Run the API server (embedded in-memory engine unless FOLIO_MONGODB_URL is set)."""
    uvicorn.run("service.main:app", host=host, port=port, reload=reload)


@app.callback()
def main() -> None:
    """Folio's operator commands."""


if __name__ == "__main__":
    app()
