using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.WebConsole;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// Percent-encoded path bytes as a client writes them on the socket: HttpClient's Uri sends a "%" not followed by UTF-8 bytes as
/// "%25" (the text "%FF" itself), and the in-memory test server has no Kestrel, so these requests are written byte by byte to the
/// service on its loopback port (the console's host, which listens on one).
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class PathEncodingOnTheWireTests(ConsoleApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    // Kestrel decodes a path's percent-encoded bytes only where they are UTF-8 and leaves the rest as sent: "%FF" was looked up as a
    // model's code, a 404.
    [Theory]
    [InlineData("/api/catalogue/models/%FF", "code")]
    [InlineData("/api/catalogue/models/EOS%C3", "code")]
    // The absolute form a proxy may send (RFC 9112, 3.2.2): the same path after the scheme and the authority.
    [InlineData("http://{authority}/api/catalogue/models/%FF", "code")]
    public async Task a_path_value_that_is_not_utf8_is_a_400_naming_it(string target, string field)
    {
        var (status, body) = await Get(target.Replace("{authority}", app.BaseUrl!.Authority));

        Assert.Equal(400, status);
        Assert.Contains($"\"{field}\":[\"{RequestGate.PathNotUtf8[..30]}", body);
    }

    private Task<(int Status, string Body)> Get(string target) =>
        OnTheWire.SendAsync(app.BaseUrl!, $"GET {target} HTTP/1.1\r\n" +
                                          $"Host: {app.BaseUrl!.Authority}\r\n" +
                                          $"Authorization: Bearer {app.TokenFor(LedgerRoles.Support)}\r\n" +
                                          "Connection: close\r\n\r\n");
}
