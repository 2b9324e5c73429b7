using System.Text.Json;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.WebConsole;
using Marten;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// Idempotency-Key headers as a client writes them on the socket: the in-memory test server drops an empty header and an
/// HttpClient joins two into one line, so these requests are written byte by byte to the service on its loopback port
/// (the console's host, which listens on one).
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class IdempotencyKeyOnTheWireTests(ConsoleApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Theory]
    [InlineData("Idempotency-Key: \r\n")]
    [InlineData("Idempotency-Key: first\r\nIdempotency-Key: second\r\n")]
    [InlineData("Idempotency-Key: first, second\r\n")]
    [InlineData("Idempotency-Key: cl\u00e9-\u00fc\r\n")]
    public async Task an_empty_repeated_joined_or_non_ascii_key_header_is_refused_and_nothing_is_written(string keyLines)
    {
        var (status, body) = await Send(keyLines);

        Assert.Equal(400, status);
        Assert.Contains("The Idempotency-Key header must be given once, with 1 to 200 printable ASCII characters, no comma and no vertical bar.", body);
        await using var session = app.Store.QuerySession();
        Assert.Equal(0, await session.Query<AccountView>().CountAsync());
    }

    [Fact]
    public async Task one_key_header_opens_the_account()
    {
        var (status, _) = await Send("Idempotency-Key: only-one\r\n");

        Assert.Equal(201, status);
    }

    // The body is left as sent (it may be chunked): the tests look for a sentence in it, not at its JSON.
    private async Task<(int Status, string Body)> Send(string keyLines)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(Accounts.Accounts.Opening());
        var head = "POST /api/accounts HTTP/1.1\r\n" +
                   $"Host: {app.BaseUrl!.Authority}\r\n" +
                   $"Authorization: Bearer {app.TokenFor(LedgerRoles.Portal)}\r\n" +
                   "Content-Type: application/json\r\n" +
                   $"Content-Length: {body.Length}\r\n" +
                   keyLines +
                   "Connection: close\r\n\r\n";
        return await OnTheWire.SendAsync(app.BaseUrl, head, body);
    }
}
