namespace CpsLedger.LocalPostgres.Tests;

// A unique folder under /var/tmp: the postgres OS user (used when tests run as root) cannot reach /root or /tmp/<private> folders.
internal sealed class TestDirectory : IDisposable
{
    private const string Root = "/var/tmp/cpsledger-localpostgres-tests";

    public TestDirectory()
    {
        Path = System.IO.Path.Combine(Root, Guid.NewGuid().ToString("N"));
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
