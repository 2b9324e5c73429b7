using System.Runtime.CompilerServices;
using CpsLedger.Tests.Harness;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Playwright;

namespace CpsLedger.Tests.WebConsole;

/// <summary>The service on a loopback port, for a real browser; its own PostgreSQL, like every test host.</summary>
public sealed class ConsoleApp : LedgerApp
{
    protected override bool ServesOnLoopback => true;
}

/// <summary>
/// Debian's Chromium, headless, driven by Playwright. No browser is downloaded: the one the machine has is used
/// (<c>/usr/bin/chromium</c>, or <c>CPSLEDGER_CHROMIUM</c>); without it the tests fail and say what to install.
/// </summary>
public sealed class Chromium : IAsyncLifetime
{
    public const string PathVariable = "CPSLEDGER_CHROMIUM";

    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var executable = Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } configured ? configured : "/usr/bin/chromium";
        if (!File.Exists(executable))
            throw new InvalidOperationException(
                $"The console's browser tests need Chromium at {executable}: install it with 'apt-get install chromium' (Debian), " +
                $"or set {PathVariable} to a Chromium executable.");

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = executable,
            Headless = true,
            // Root in CI has no sandbox to drop into; the rest keeps Chromium off a network it cannot reach.
            Args =
            [
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
            ],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
            await Browser.DisposeAsync();
        _playwright?.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleApp>, ICollectionFixture<Chromium>
{
    public const string Name = "console";
}

/// <summary>The service with the reconciliation on a schedule of its own, as in production (the other hosts run it only when asked).</summary>
public sealed class ScheduledConsoleApp : LedgerApp
{
    /// <summary>Once a year: the schedule is registered, and no test run sees it fire (but one over midnight on New Year's Eve).</summary>
    public const string ReconciliationCron = "0 0 1 1 *";

    protected override bool ServesOnLoopback => true;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("Reconciliation:Enabled", "true");
        builder.UseSetting("Reconciliation:Cron", ReconciliationCron);
    }
}

[CollectionDefinition(Name)]
public sealed class ScheduledConsoleCollection : ICollectionFixture<ScheduledConsoleApp>, ICollectionFixture<Chromium>
{
    public const string Name = "console-scheduled";
}

/// <summary>Base for the browser tests on the console's usual host.</summary>
[Collection(ConsoleCollection.Name)]
public abstract class ConsoleTest(ConsoleApp app, Chromium chromium) : ConsoleTest<ConsoleApp>(app, chromium);

/// <summary>Base for the browser tests: a clean ledger and a fresh browser context (no token, no cookies) per test.</summary>
public abstract class ConsoleTest<TApp>(TApp app, Chromium chromium) : IAsyncLifetime
    where TApp : LedgerApp
{
    protected TApp App { get; } = app;

    protected IPage Page { get; private set; } = null!;

    private IBrowserContext? _context;

    public async Task InitializeAsync()
    {
        await App.ResetAsync();
        _context = await chromium.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = App.BaseUrl!.ToString(),
            ViewportSize = new ViewportSize { Width = 1366, Height = 900 }, // a laptop screen
            Locale = "en-GB",
            TimezoneId = "UTC",
        });
        _context.SetDefaultTimeout(15_000);
        Page = await _context.NewPageAsync();
    }

    public async Task DisposeAsync()
    {
        if (_context is not null)
            await _context.DisposeAsync();
    }

    /// <summary>Opens the console and signs in with a development token of the role, as docs/console.md tells a developer to.</summary>
    protected Task SignInAs(string role, string subject) => SignInAs([role], subject);

    /// <summary>Signs in with a token holding several roles, as a member of staff who works both in support and in finance.</summary>
    protected async Task SignInAs(IReadOnlyCollection<string> roles, string subject)
    {
        await Page.GotoAsync("/console/");
        await Page.GetByLabel("Development token").FillAsync(App.TokenFor(roles, subject));
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(Page.GetByText($"Signed in as {subject}")).ToBeVisibleAsync();
    }

    public const string ScreenshotsVariable = "CPSLEDGER_SCREENSHOTS";

    /// <summary>
    /// A full-page screenshot. With <c>CPSLEDGER_SCREENSHOTS=1</c> it is saved beside these tests (<c>screenshots/</c>, committed
    /// and shown in docs/console.md); otherwise it is only taken, so a test run leaves the working tree as it was.
    /// </summary>
    protected async Task Screenshot(string name, [CallerFilePath] string callerFile = "")
    {
        var bytes = await Page.ScreenshotAsync(new PageScreenshotOptions { FullPage = true });
        Assert.NotEmpty(bytes);
        if (Environment.GetEnvironmentVariable(ScreenshotsVariable) != "1")
            return;
        var folder = Path.Combine(Path.GetDirectoryName(callerFile)!, "screenshots");
        Directory.CreateDirectory(folder);
        await File.WriteAllBytesAsync(Path.Combine(folder, $"{name}.png"), bytes);
    }
}

/// <summary>Steps on the console's pages that several tests take.</summary>
public static class ConsolePages
{
    /// <summary>How many of its text's lines a table row is tall: its height inside its cells' padding over the table's line height.</summary>
    public static Task<double> LinesTall(this ILocator row) => row.EvaluateAsync<double>("""
        tr => {
          const cell = getComputedStyle(tr.cells[0]);
          const inside = tr.getBoundingClientRect().height - parseFloat(cell.paddingTop) - parseFloat(cell.paddingBottom) - parseFloat(cell.borderBottomWidth);
          return inside / parseFloat(getComputedStyle(tr.closest('table')).lineHeight);
        }
        """);

    /// <summary>Fills in the manual adjustment form and asks for its review; returns the preview of what will be written.</summary>
    public static async Task<ILocator> ReviewAdjustment(this IPage page, string points, string reason, string ticket)
    {
        var adjust = page.GetByTestId("adjust");
        await adjust.GetByLabel("Points").FillAsync(points);
        await adjust.GetByLabel("Reason").FillAsync(reason);
        await adjust.GetByLabel("Ticket reference").FillAsync(ticket);
        await adjust.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        return page.GetByRole(AriaRole.Region, new() { Name = "What will be written" });
    }
}
