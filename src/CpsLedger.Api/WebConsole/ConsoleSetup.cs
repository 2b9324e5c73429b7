using System.Security.Claims;
using CpsLedger.Api.Platform;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace CpsLedger.Api.WebConsole;

/// <summary>Sign-in of the support, audit and finance console (configuration section <c>Console</c>).</summary>
public sealed class ConsoleOptions
{
    public const string Section = "Console";

    public ConsoleOidcOptions Oidc { get; set; } = new();
}

/// <summary>The identity provider the console signs staff in with (OpenID Connect, authorization code with PKCE).</summary>
public sealed class ConsoleOidcOptions
{
    /// <summary>The provider; empty means the API's <c>Auth:Authority</c>.</summary>
    public string? Authority { get; set; }

    /// <summary>The console's client id at the provider; empty turns OpenID Connect sign-in off.</summary>
    public string? ClientId { get; set; }

    public string? ClientSecret { get; set; }

    public string Scopes { get; set; } = "openid profile";

    /// <summary>The claim carrying the ledger roles (member, support, auditor, finance, portal), as in the API's tokens.</summary>
    public string RoleClaim { get; set; } = LedgerClaims.Role;

    /// <summary>The claim recorded as the acting user on every change, as the API's tokens' <c>sub</c>.</summary>
    public string NameClaim { get; set; } = LedgerClaims.Subject;

    public bool RequireHttpsMetadata { get; set; } = true;

    /// <summary>The absolute end of a console session after sign-in, however active (the server-side record's limit).</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>A console session unused for this long is ended (and its record deleted) at its next request.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    public bool Enabled => !string.IsNullOrWhiteSpace(ClientId);
}

/// <summary>How the console page signs people in, as it tells the page (<c>/console/config.json</c>).</summary>
public sealed record ConsoleConfig(string SignIn, string Environment);

/// <summary>
/// The support, audit and finance console: static pages under <c>/console</c> that call the same API with the same roles. In
/// Development the page sends a pasted development token as a bearer token; elsewhere, with <c>Console:Oidc</c> set, the
/// service signs staff in with OpenID Connect and keeps a server-side session (<see cref="ConsoleTicketStore"/>) whose key is
/// the cookie, which the API accepts only on requests that carry the console's header (a cross-site form cannot set it, so
/// the cookie cannot be used to forge a request).
/// </summary>
public static class ConsoleSetup
{
    public const string BasePath = "/console";
    public const string CookieScheme = "console-session";
    public const string OidcScheme = "console-oidc";

    /// <summary>The header every console request carries; the session cookie counts only with it.</summary>
    public const string RequestHeader = "X-CpsLedger-Console";

    public const string DevTokenSignIn = "dev-token";
    public const string OidcSignIn = "openid-connect";
    public const string NoSignIn = "not-configured";

    public static void AddLedgerConsole(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(ConsoleOptions.Section);
        builder.Services.AddOptions<ConsoleOptions>()
            .Bind(section)
            .Validate(o => !o.Oidc.Enabled || o.Oidc.SessionLifetime > TimeSpan.Zero, "Console:Oidc:SessionLifetime must be positive.")
            .Validate(o => !o.Oidc.Enabled || (o.Oidc.IdleTimeout > TimeSpan.Zero && o.Oidc.IdleTimeout <= o.Oidc.SessionLifetime),
                "Console:Oidc:IdleTimeout must be positive and at most Console:Oidc:SessionLifetime.")
            .ValidateOnStart();
        // Sessions are server-side records (ConsoleSessions.cs): signing out deletes them.
        builder.AddConsoleSessions();

        var oidc = section.Get<ConsoleOptions>()?.Oidc ?? new ConsoleOidcOptions();
        if (!oidc.Enabled)
            return;

        var authority = string.IsNullOrWhiteSpace(oidc.Authority) ? builder.Configuration["Auth:Authority"] : oidc.Authority;
        if (string.IsNullOrWhiteSpace(authority))
            throw new InvalidOperationException("Console:Oidc:ClientId is set but neither Console:Oidc:Authority nor Auth:Authority is.");

        builder.Services.AddAuthentication()
            .AddCookie(CookieScheme, o =>
            {
                o.Cookie.Name = "cpsledger-console";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Lax;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.Cookie.Path = "/";
                o.ExpireTimeSpan = oidc.SessionLifetime;
                o.SlidingExpiration = false;
                // An API call answers 401/403 like a bearer call would; the page offers to sign in again.
                o.Events.OnRedirectToLogin = ctx => Status(ctx, StatusCodes.Status401Unauthorized);
                o.Events.OnRedirectToAccessDenied = ctx => Status(ctx, StatusCodes.Status403Forbidden);
            })
            .AddOpenIdConnect(OidcScheme, o =>
            {
                o.SignInScheme = CookieScheme;
                o.Authority = authority;
                o.ClientId = oidc.ClientId;
                o.ClientSecret = string.IsNullOrWhiteSpace(oidc.ClientSecret) ? null : oidc.ClientSecret;
                o.ResponseType = "code";
                o.UsePkce = true;
                o.RequireHttpsMetadata = oidc.RequireHttpsMetadata;
                o.CallbackPath = $"{BasePath}/signin-oidc";
                // The provider sends the browser back with a top-level GET, so the correlation and nonce cookies can be
                // SameSite=Lax (a cross-site form_post would need SameSite=None); Secure follows the request (https in production).
                o.ResponseMode = OpenIdConnectResponseMode.Query;
                o.CorrelationCookie.SameSite = SameSiteMode.Lax;
                o.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.NonceCookie.SameSite = SameSiteMode.Lax;
                o.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.SaveTokens = false;
                o.MapInboundClaims = false;
                o.Scope.Clear();
                foreach (var scope in oidc.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    o.Scope.Add(scope);
                o.TokenValidationParameters = new TokenValidationParameters
                {
                    RoleClaimType = oidc.RoleClaim,
                    NameClaimType = oidc.NameClaim,
                };
                // The ledger's role names under the ledger's claim type, whatever the provider calls its role claim.
                o.Events.OnTokenValidated = ctx =>
                {
                    if (ctx.Principal?.Identity is ClaimsIdentity identity && oidc.RoleClaim != LedgerClaims.Role)
                    {
                        foreach (var role in identity.FindAll(oidc.RoleClaim).ToList())
                            identity.AddClaim(new Claim(LedgerClaims.Role, role.Value));
                    }

                    // The name is what every change made in the session is recorded under, as a token's sub is (Auth): none, or the
                    // ledger's own actor's, is refused here as the API refuses such a token.
                    if (LedgerClaims.RefuseSubject(ctx.Principal?.Identity?.Name) is { } refusal)
                        ctx.Fail(new SignInRefusedException($"{refusal} ({oidc.NameClaim}, Console:Oidc:NameClaim)"));
                    return Task.CompletedTask;
                };
                // A refused identity is answered 403 with the reason, and no session is started; other failures of the provider's
                // answer (a state that does not match, an error from the provider) keep the handler's own behaviour.
                o.Events.OnRemoteFailure = async ctx =>
                {
                    if (ctx.Failure is not SignInRefusedException refused)
                        return;
                    ctx.HandleResponse();
                    await Problems.Write(ctx.HttpContext, StatusCodes.Status403Forbidden, "Sign-in refused", refused.Message);
                };
            });
    }

    private static Task Status(RedirectContext<CookieAuthenticationOptions> ctx, int status)
    {
        ctx.Response.StatusCode = status;
        return Task.CompletedTask;
    }

    /// <summary>Whether this request is the console's, signed in by session cookie (no bearer token of its own).</summary>
    public static bool UsesSessionCookie(HttpContext context) =>
        context.RequestServices.GetRequiredService<IOptions<ConsoleOptions>>().Value.Oidc.Enabled
        && !context.Request.Headers.Authorization.Any(h => h?.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) == true)
        && context.Request.Headers.ContainsKey(RequestHeader);

    public static string SignInMode(IHostEnvironment environment, ConsoleOptions console, AuthOptions auth) =>
        console.Oidc.Enabled ? OidcSignIn
        : environment.IsDevelopment() && auth.SymmetricKey is not null ? DevTokenSignIn
        : NoSignIn;

    /// <summary>Serves the console's files before authentication: they hold no data, only the page that asks the API.</summary>
    public static void UseLedgerConsoleFiles(this WebApplication app)
    {
        var files = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "WebConsole", "web"));
        app.UseWhen(ctx => ctx.Request.Path.StartsWithSegments(BasePath), branch => branch.Use(async (ctx, next) =>
        {
            // The page's relative links need the trailing slash (a route for "/console" would match "/console/" too).
            if (ctx.Request.Path.Value == BasePath)
            {
                ctx.Response.Redirect($"{BasePath}/{ctx.Request.QueryString}");
                return;
            }

            var headers = ctx.Response.Headers;
            headers.ContentSecurityPolicy =
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
                "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.CacheControl = "no-cache";
            await next();
        }));
        app.UseDefaultFiles(new DefaultFilesOptions { RequestPath = BasePath, FileProvider = files });
        app.UseStaticFiles(new StaticFileOptions { RequestPath = BasePath, FileProvider = files });
    }

    public static void MapLedgerConsole(this WebApplication app)
    {
        app.MapGet($"{BasePath}/config.json", (IHostEnvironment environment, IOptions<ConsoleOptions> console, IOptions<AuthOptions> auth) =>
                new ConsoleConfig(SignInMode(environment, console.Value, auth.Value), environment.EnvironmentName))
            .AllowAnonymous().ExcludeFromDescription();

        app.MapGet($"{BasePath}/signin", (IOptions<ConsoleOptions> console) => console.Value.Oidc.Enabled
                ? Results.Challenge(new AuthenticationProperties { RedirectUri = $"{BasePath}/" }, [OidcScheme])
                : Results.Problem(Problems.NotFound("No identity provider", "The console signs in with a development token here.")))
            .AllowAnonymous().ExcludeFromDescription();

        // POST with the console's header: a cross-site page cannot sign a user out behind their back either.
        app.MapPost($"{BasePath}/signout", async (HttpContext ctx, IOptions<ConsoleOptions> console) =>
            {
                if (!ctx.Request.Headers.ContainsKey(RequestHeader))
                    return Results.Problem(Problems.Invalid(RequestHeader, "Sign out from the console page."));
                if (console.Value.Oidc.Enabled)
                    await ctx.SignOutAsync(CookieScheme);
                return Results.NoContent();
            })
            .AllowAnonymous().ExcludeFromDescription();
    }
}

/// <summary>The identity provider signed in someone the ledger cannot record changes under (<see cref="LedgerClaims.RefuseSubject"/>).</summary>
public sealed class SignInRefusedException(string message) : Exception(message);
