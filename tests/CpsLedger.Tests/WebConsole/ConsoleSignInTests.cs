using CpsLedger.Api.Platform;
using CpsLedger.Api.WebConsole;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace CpsLedger.Tests.WebConsole;

/// <summary>The service with the console signing in through an OpenID Connect provider (as in Production), on a loopback port.</summary>
public sealed class OidcConsoleApp : LedgerApp
{
    public TestIdentityProvider IdentityProvider { get; private set; } = null!;

    protected override bool ServesOnLoopback => true;

    public override async Task InitializeAsync()
    {
        IdentityProvider = await TestIdentityProvider.StartAsync();
        await base.InitializeAsync();
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("Console:Oidc:Authority", IdentityProvider.Issuer);
        builder.UseSetting("Console:Oidc:ClientId", TestIdentityProvider.ClientId);
        builder.UseSetting("Console:Oidc:ClientSecret", TestIdentityProvider.ClientSecret);
        builder.UseSetting("Console:Oidc:RequireHttpsMetadata", "false");
        builder.UseSetting("Console:Oidc:IdleTimeout", IdleTimeout.ToString());
        builder.UseSetting("Console:Oidc:SessionLifetime", SessionLifetime.ToString());
    }

    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(10);
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(1);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (IdentityProvider is not null)
            await IdentityProvider.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class OidcConsoleCollection : ICollectionFixture<OidcConsoleApp>, ICollectionFixture<Chromium>
{
    public const string Name = "console-oidc";
}

/// <summary>Signing in to the console through the identity provider, with the provider's role claims.</summary>
[Collection(OidcConsoleCollection.Name)]
public sealed class ConsoleSignInTests(OidcConsoleApp app, Chromium chromium) : IAsyncLifetime
{
    private IBrowserContext _context = null!;
    private IPage Page { get; set; } = null!;

    public async Task InitializeAsync()
    {
        await app.ResetAsync();
        _context = await chromium.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = app.BaseUrl!.ToString(), TimezoneId = "UTC" });
        _context.SetDefaultTimeout(15_000);
        Page = await _context.NewPageAsync();
    }

    public async Task DisposeAsync() => await _context.DisposeAsync();

    private async Task SignInThroughTheProvider(string subject, params string[] roles)
    {
        app.IdentityProvider.Subject = subject;
        app.IdentityProvider.Roles = roles;
        await Page.GotoAsync("/console/");
        await Page.GetByRole(AriaRole.Link, new() { Name = "Sign in with your organisation account" }).ClickAsync();
        await Expect(Page.GetByText($"Signed in as {subject}")).ToBeVisibleAsync();
        Assert.Equal(0, app.IdentityProvider.RefusedTokenRequests);
    }

    [Fact]
    public async Task Staff_sign_in_with_the_identity_provider_and_its_role_claims_decide_what_they_may_do()
    {
        var account = await app.OpenAccount();
        await SignInThroughTheProvider("ines", LedgerRoles.Auditor);
        Assert.DoesNotContain(await _context.CookiesAsync(), c => c.Name == "cpsledger-console" && !c.HttpOnly);

        await Page.GotoAsync($"/console/#/accounts/{account}");
        var tabs = Page.GetByRole(AriaRole.Navigation, new() { Name = "Account" });
        await Expect(tabs.GetByRole(AriaRole.Link)).ToHaveTextAsync(["Overview", "History & time travel", "Audit"]);

        // The session cookie counts with the console's header only; an action is still refused to an auditor.
        var statuses = await Page.EvaluateAsync<int[]>(
            """
            async id => {
              const body = JSON.stringify({ points: 500, reason: 'Auditor trying an action', ticketReference: 'CPS-SUP-9' });
              const withHeader = await fetch(`/api/accounts/${id}/points-adjustments`, { method: 'POST', body,
                headers: { 'Content-Type': 'application/json', 'X-CpsLedger-Console': '1' } });
              const withoutHeader = await fetch(`/api/accounts/${id}/summary`);
              const me = await fetch('/api/me', { headers: { 'X-CpsLedger-Console': '1' } });
              return [withHeader.status, withoutHeader.status, me.status];
            }
            """, account.ToString());
        Assert.Equal([403, 401, 200], statuses);

        // Signing out ends the session.
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Sign in with your organisation account" })).ToBeVisibleAsync();
        Assert.Equal(401, await Page.EvaluateAsync<int>("async () => (await fetch('/api/me', { headers: { 'X-CpsLedger-Console': '1' } })).status"));
    }

    [Fact]
    public async Task A_support_agents_change_made_through_the_provider_session_is_recorded_under_its_name()
    {
        var account = await app.OpenAccount();
        await SignInThroughTheProvider("anna", LedgerRoles.Support);
        await Page.GotoAsync($"/console/#/accounts/{account}/support");

        await (await Page.ReviewAdjustment("25", "Goodwill after a lost registration", "CPS-SUP-42"))
            .GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Written: manual adjustment of +25 points").First).ToBeVisibleAsync();

        var history = await app.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?types=points_adjusted")
            .ReadAs<CpsLedger.Api.Audit.HistoryPage>();
        var adjusted = Assert.Single(history.Items);
        Assert.Equal(("anna", "Goodwill after a lost registration"), (adjusted.By, adjusted.Reason));
    }

    [Fact]
    public async Task A_provider_identity_named_as_the_ledgers_own_actor_is_refused_and_starts_no_session()
    {
        // Every change made in a session is recorded under its name, as a token's sub: the API refuses a token whose sub is the
        // ledger's own actor (system:...), and the console's sign-in refuses the same name (a QA pass, 2026-12-04).
        app.IdentityProvider.Subject = "system:invoicing";
        app.IdentityProvider.Roles = [LedgerRoles.Support];
        await Page.GotoAsync("/console/");
        var callback = await Page.RunAndWaitForResponseAsync(
            () => Page.GetByRole(AriaRole.Link, new() { Name = "Sign in with your organisation account" }).ClickAsync(),
            r => r.Url.Contains("/signin-oidc"));

        Assert.Equal(403, callback.Status);
        Assert.Contains("the ledger's own actor", await callback.TextAsync());
        Assert.Equal(0, await SessionRows());
        await Page.GotoAsync("/console/");
        Assert.Equal(401, await StatusFromThePage());
    }

    /// <summary>The session cookie as the browser holds it, replayed from outside the browser (as a thief with a copy would).</summary>
    private async Task<Func<Task<System.Net.HttpStatusCode>>> CopyOfTheSessionCookie()
    {
        var cookie = Assert.Single(await _context.CookiesAsync(), c => c.Name == "cpsledger-console");
        return async () =>
        {
            using var client = new HttpClient { BaseAddress = app.BaseUrl };
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/me");
            request.Headers.Add("Cookie", $"{cookie.Name}={cookie.Value}");
            request.Headers.Add(ConsoleSetup.RequestHeader, "1");
            return (await client.SendAsync(request)).StatusCode;
        };
    }

    private async Task<int> SessionRows()
    {
        await using var session = app.Store.QuerySession();
        return await Marten.QueryableExtensions.CountAsync(session.Query<ConsoleSession>());
    }

    private Task<int> StatusFromThePage() =>
        Page.EvaluateAsync<int>("async () => (await fetch('/api/me', { headers: { 'X-CpsLedger-Console': '1' } })).status");

    [Fact]
    public async Task Signing_out_deletes_the_server_side_session_so_a_copied_cookie_no_longer_works()
    {
        await SignInThroughTheProvider("ines", LedgerRoles.Auditor);
        var replay = await CopyOfTheSessionCookie();
        Assert.Equal(System.Net.HttpStatusCode.OK, await replay());
        Assert.Equal(1, await SessionRows());

        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Sign in with your organisation account" })).ToBeVisibleAsync();

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, await replay());
        Assert.Equal(0, await SessionRows());
    }

    [Fact]
    public async Task A_session_left_idle_ends_while_one_in_use_stays()
    {
        await SignInThroughTheProvider("ines", LedgerRoles.Auditor);
        var replay = await CopyOfTheSessionCookie();
        var almostIdle = OidcConsoleApp.IdleTimeout - TimeSpan.FromMinutes(1);

        // Used within the idle timeout, twice: still signed in well past one idle timeout after sign-in.
        app.Clock.Advance(almostIdle);
        Assert.Equal(200, await StatusFromThePage());
        app.Clock.Advance(almostIdle);
        Assert.Equal(200, await StatusFromThePage());

        app.Clock.Advance(OidcConsoleApp.IdleTimeout);
        Assert.Equal(401, await StatusFromThePage());
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, await replay());
        Assert.Equal(0, await SessionRows());
    }

    [Fact]
    public async Task A_session_ends_at_its_absolute_lifetime_however_busy()
    {
        await SignInThroughTheProvider("ines", LedgerRoles.Auditor);
        var step = OidcConsoleApp.IdleTimeout - TimeSpan.FromMinutes(1);
        var elapsed = TimeSpan.Zero;
        while (elapsed + step < OidcConsoleApp.SessionLifetime)
        {
            app.Clock.Advance(step);
            elapsed += step;
            Assert.Equal(200, await StatusFromThePage());
        }

        app.Clock.Advance(step);
        Assert.Equal(401, await StatusFromThePage());
        await Page.ReloadAsync();
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Sign in with your organisation account" })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task The_page_is_told_to_sign_in_with_the_provider_and_never_offers_a_development_token()
    {
        var config = await app.CreateClient().GetAsync("/console/config.json").ReadAs<CpsLedger.Api.WebConsole.ConsoleConfig>();
        Assert.Equal("openid-connect", config.SignIn);
        await Page.GotoAsync("/console/");
        await Expect(Page.GetByLabel("Development token")).ToHaveCountAsync(0);
    }

    [Theory]
    [InlineData("00:30:00", "08:00:00", true)]
    [InlineData("00:00:00", "08:00:00", false)]
    [InlineData("09:00:00", "08:00:00", false)]
    [InlineData("00:30:00", "00:00:00", false)]
    public void Session_timeouts_are_checked_at_start_up(string idle, string lifetime, bool valid)
    {
        var validators = app.Services.GetRequiredService<IEnumerable<Microsoft.Extensions.Options.IValidateOptions<ConsoleOptions>>>();
        var options = new ConsoleOptions { Oidc = { ClientId = "console", IdleTimeout = TimeSpan.Parse(idle), SessionLifetime = TimeSpan.Parse(lifetime) } };
        Assert.Equal(valid, validators.All(v => !v.Validate(Microsoft.Extensions.Options.Options.DefaultName, options).Failed));
    }

    [Theory]
    [InlineData("Development", true, false, ConsoleSetup.DevTokenSignIn)]
    [InlineData("Development", true, true, ConsoleSetup.OidcSignIn)]
    [InlineData("Production", true, false, ConsoleSetup.NoSignIn)]
    [InlineData("Production", false, true, ConsoleSetup.OidcSignIn)]
    [InlineData("Production", false, false, ConsoleSetup.NoSignIn)]
    public void Only_development_accepts_a_development_token(string environment, bool signingKey, bool oidc, string expected)
    {
        var host = new HostingEnvironment { EnvironmentName = environment };
        var auth = new AuthOptions { SigningKey = signingKey ? new string('k', 40) : null };
        var console = new ConsoleOptions { Oidc = { ClientId = oidc ? "console" : null } };
        Assert.Equal(expected, ConsoleSetup.SignInMode(host, console, auth));
    }
}
