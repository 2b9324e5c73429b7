namespace CpsLedger.Tests.Harness;

/// <summary>
/// The SQL Npgsql sends (one activity per command or batch) in the trace of <see cref="TraceParent"/>: a request's own
/// statements, not those of work other tests or leftover background handlers do at the same time.
/// </summary>
public sealed class SentStatements : IDisposable
{
    private readonly System.Diagnostics.ActivityTraceId _trace = System.Diagnostics.ActivityTraceId.CreateRandom();
    private readonly System.Collections.Concurrent.ConcurrentQueue<(string Text, string? Connection)> _sent = new();
    private readonly System.Diagnostics.ActivityListener _listener;

    public SentStatements()
    {
        _listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) =>
                System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.TraceId == _trace)
                    _sent.Enqueue(((activity.GetTagItem("db.query.text") ?? activity.GetTagItem("db.statement"))?.ToString() ?? "",
                        activity.GetTagItem("db.connection_id")?.ToString()));
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>A W3C <c>traceparent</c> header that starts the trace (ASP.NET Core continues it in the request).</summary>
    public string TraceParent => $"00-{_trace}-{System.Diagnostics.ActivitySpanId.CreateRandom()}-01";

    public IReadOnlyList<string> Texts => [.. _sent.Select(s => s.Text)];

    /// <summary>The Npgsql connection each statement was sent on (its <c>db.connection_id</c>), in the order sent.</summary>
    public IReadOnlyList<string?> Connections => [.. _sent.Select(s => s.Connection)];

    /// <summary>Runs code outside a request in the trace (its statements are counted): dispose the activity to leave it.</summary>
    public System.Diagnostics.Activity Enter() => new System.Diagnostics.Activity("test").SetParentId(TraceParent).Start();

    public void Dispose() => _listener.Dispose();

    /// <summary>The statements one GET by <paramref name="client"/> sends (it must answer 200), each shortened to what it reads
    /// (to <paramref name="length"/> characters: a batch's first statement).</summary>
    public static async Task<IReadOnlyList<string>> OfGet(HttpClient client, string url, int length = 200)
    {
        using var statements = new SentStatements();
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add("traceparent", statements.TraceParent);
        using var response = await client.SendAsync(request);
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.OK, $"{url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return [.. statements.Texts.Select(sql => sql.Length <= length ? sql : sql[..length])];
    }
}
