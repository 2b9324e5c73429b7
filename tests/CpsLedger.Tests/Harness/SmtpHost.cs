using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// The service on a schema of its own, sending its e-mails over SMTP to a <see cref="SmtpSink"/> (refusing at first when asked, as
/// a mail server that is down): the mail tests' arrangement. Disposed, it stops the service, drops the schema and closes the sink.
/// </summary>
public sealed class SmtpHost : IAsyncDisposable
{
    private readonly LedgerApp _app;

    private SmtpHost(LedgerApp app, string name, bool refusing, (string Key, string Value)[] settings)
    {
        _app = app;
        Smtp = new SmtpSink { Refusing = refusing };
        Schema = $"cpsledger_{name}_{Guid.NewGuid():N}"[..30];
        Host = app.WithWebHostBuilder(b =>
        {
            b.UseSetting("Ledger:SchemaName", Schema);
            b.UseSetting("Mail:SmtpHost", "127.0.0.1");
            b.UseSetting("Mail:SmtpPort", Smtp.Port.ToString());
            b.UseSetting("Mail:SmtpSecurity", "None");
            foreach (var (key, value) in settings)
                b.UseSetting(key, value);
        });
    }

    /// <summary>A service named <paramref name="name"/> (in its schema's name) with these settings besides the SMTP ones.</summary>
    public static SmtpHost Start(LedgerApp app, string name, bool refusing, params (string Key, string Value)[] settings) =>
        new(app, name, refusing, settings);

    public SmtpSink Smtp { get; }

    public string Schema { get; }

    public WebApplicationFactory<Program> Host { get; }

    public IServiceProvider Services => Host.Services;

    public HttpClient CreateClient() => Host.CreateClient();

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Host.DisposeAsync();
            await ServiceProcess.DropSchemaAsync(_app, Schema);
        }
        finally
        {
            Smtp.Dispose();
        }
    }
}
