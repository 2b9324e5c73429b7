using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Wolverine.Attributes;

namespace CpsLedger.Api.Platform;

public static class LedgerRoles
{
    public const string Member = "member";
    public const string Support = "support";
    public const string Auditor = "auditor";
    public const string Finance = "finance";
    public const string Portal = "portal";

    public static readonly IReadOnlyList<string> All = [Member, Support, Auditor, Finance, Portal];

    /// <summary>Everyone who may read an account (a member only its own, by the account-access policy).</summary>
    public const string Readers = $"{Member},{Support},{Auditor},{Finance},{Portal}";

    /// <summary>Who may read an account's event history: its member, support and auditors (not the portal or finance).</summary>
    public const string HistoryReaders = $"{Member},{Support},{Auditor}";

    /// <summary>Who may change an account's products: its member, the portal on its behalf, and support.</summary>
    public const string ProductKeepers = $"{Member},{Portal},{Support}";
}

public static class LedgerClaims
{
    public const string AccountId = "account_id";
    public const string Role = "role";
    public const string Subject = "sub";

    /// <summary>Why a token's subject cannot be the name a change is recorded under, or null when it can.</summary>
    public static string? RefuseSubject(string? subject) =>
        string.IsNullOrWhiteSpace(subject) ? "The token names no subject (sub)."
        : subject.StartsWith(SystemActor.Prefix, StringComparison.OrdinalIgnoreCase) ? $"A token's subject never starts with {SystemActor.Prefix}: that is the ledger's own actor."
        : null;
}

public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>Production: the identity provider (OpenID Connect authority) that signs tokens.</summary>
    public string? Authority { get; set; }

    public string? Issuer { get; set; }

    [Required]
    public string Audience { get; set; } = "cpsledger-api";

    /// <summary>Development/tests: a symmetric key (at least 32 bytes) used to sign and validate tokens.</summary>
    public string? SigningKey { get; set; }

    public TimeSpan DevTokenLifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>How far a token's lifetime may be stretched for clocks that disagree (0 to 30 s; the library default of 5 minutes is far too long).</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromSeconds(30);

    /// <summary>Whether the service validates tokens with <see cref="SigningKey"/> (no identity provider, a key long enough for HS256).</summary>
    public bool TakesDevelopmentTokens => string.IsNullOrEmpty(Authority) && Encoding.UTF8.GetByteCount(SigningKey ?? "") >= 32;

    public SymmetricSecurityKey? SymmetricKey =>
        string.IsNullOrEmpty(SigningKey) ? null : new SymmetricSecurityKey(Encoding.UTF8.GetBytes(SigningKey));
}

public static class Auth
{
    public const string AccountAccessPolicy = "account-access";
    public const string LedgerScheme = "ledger";

    /// <summary>Where a bearer challenge leaves why the token was refused, for the 401's problem details (<see cref="ProblemShape"/>).</summary>
    public const string RefusalItem = "cpsledger.auth.refusal";

    public static void AddLedgerAuth(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<AuthOptions>()
            .Bind(builder.Configuration.GetSection(AuthOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => !string.IsNullOrEmpty(o.Authority) || o.TakesDevelopmentTokens,
                "Auth: set Auth:Authority (the identity provider) or Auth:SigningKey (at least 32 bytes, development only).")
            .Validate(o => o.ClockSkew >= TimeSpan.Zero && o.ClockSkew <= AuthOptions.MaxClockSkew,
                "Auth:ClockSkew must be between 00:00:00 and 00:00:30.")
            .ValidateOnStart();

        // A bearer token, or the web console's session cookie where the console signs in with OpenID Connect
        // (WebConsole/ConsoleSetup.cs); without the console's header a request is always a bearer request.
        builder.Services.AddAuthentication(LedgerScheme)
            .AddPolicyScheme(LedgerScheme, "Bearer token or console session", o => o.ForwardDefaultSelector = ctx =>
                WebConsole.ConsoleSetup.UsesSessionCookie(ctx) ? WebConsole.ConsoleSetup.CookieScheme : JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer();
        builder.Services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<IOptions<AuthOptions>>((jwt, auth) =>
            {
                var o = auth.Value;
                jwt.MapInboundClaims = false;
                jwt.Authority = string.IsNullOrEmpty(o.Authority) ? null : o.Authority;
                jwt.Audience = o.Audience;
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidateIssuer = !string.IsNullOrEmpty(o.Issuer),
                    ValidIssuer = o.Issuer,
                    ValidateAudience = true,
                    ValidAudience = o.Audience,
                    ValidateLifetime = true,
                    ClockSkew = o.ClockSkew,
                    IssuerSigningKey = string.IsNullOrEmpty(o.Authority) ? o.SymmetricKey : null,
                    RoleClaimType = LedgerClaims.Role,
                    NameClaimType = LedgerClaims.Subject,
                };
                // The sub is the name every change this caller makes is recorded under: a token without one would write
                // events by nobody, and one named like the ledger's own actor (system:...) would pass a person's change off as
                // the system's in the history. Neither is a caller the ledger can account for, however well signed.
                jwt.Events = new JwtBearerEvents
                {
                    OnTokenValidated = ctx =>
                    {
                        if (LedgerClaims.RefuseSubject(ctx.Principal?.Identity?.Name) is { } refusal)
                            ctx.Fail(refusal);
                        return Task.CompletedTask;
                    },
                    // JwtBearer words an expired token, a bad signature, audience or issuer in error_description; a token that is
                    // no JWT at all (a command's error message taken for one) and the refused subject above it leaves blank.
                    // The caller learns only what its own token says; the problem's detail repeats it for those who read bodies.
                    OnChallenge = ctx =>
                    {
                        if (ctx.AuthenticateFailure is { } failure)
                        {
                            ctx.ErrorDescription = failure switch
                            {
                                // JwtBearer's "The signature key was not found" (a token without a key id whose signature no key
                                // verifies) reads as the service missing a key; the token was signed with another key or changed.
                                SecurityTokenInvalidSignatureException =>
                                    "The token's signature does not verify: it was signed with another key than this service's, or changed after signing.",
                                // JwtBearer's "The token expired at '12/08/2026 00:08:35'" is month first and names no zone.
                                SecurityTokenExpiredException expired =>
                                    $"The token expired at {expired.Expires.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture)}.",
                                // Otherwise JwtBearer's own words where it has any.
                                _ when !string.IsNullOrEmpty(ctx.ErrorDescription) => ctx.ErrorDescription,
                                SecurityTokenMalformedException => "The bearer token is not a JSON Web Token.",
                                AuthenticationFailureException refused => refused.Message,
                                _ => ctx.ErrorDescription,
                            };
                        }

                        if (!string.IsNullOrEmpty(ctx.ErrorDescription))
                            ctx.HttpContext.Items[RefusalItem] = ctx.ErrorDescription;
                        // No token at all (an empty $TOKEN in a shell): RFC 6750 gives the header no error then, the body can say so.
                        else if (ctx.AuthenticateFailure is null)
                            ctx.HttpContext.Items[RefusalItem] = "The request carries no bearer token (Authorization: Bearer <token>).";
                        return Task.CompletedTask;
                    },
                };
            });

        builder.Services.AddAuthorization(options =>
        {
            // Every route needs a caller unless it explicitly allows anonymous access (health, OpenAPI, docs).
            options.FallbackPolicy = new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build();
            options.AddPolicy(AccountAccessPolicy, p => p.RequireAuthenticatedUser().AddRequirements(new AccountAccessRequirement()));
        });
        builder.Services.AddSingleton<IAuthorizationHandler, AccountAccessHandler>();
        builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, ForbiddenReasons>();
        builder.Services.AddSingleton<DevTokenIssuer>();
    }
}

/// <summary>
/// A member may reach only the account named in its token; staff roles reach any account (what they may do there
/// is decided by each endpoint's roles). Applied to every route with an <c>{accountId}</c> by <see cref="AccountScopePolicy"/>.
/// </summary>
public sealed class AccountAccessRequirement : IAuthorizationRequirement;

[WolverineIgnore] // an ASP.NET authorization handler, not a Wolverine message handler (it inherits HandleAsync)
public sealed class AccountAccessHandler : AuthorizationHandler<AccountAccessRequirement>
{
    public const string RouteParameter = "accountId";

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, AccountAccessRequirement requirement)
    {
        var user = context.User;
        if (LedgerRoles.All.Where(r => r != LedgerRoles.Member).Any(user.IsInRole))
        {
            context.Succeed(requirement);
            return Task.CompletedTask;
        }

        var routeAccount = (context.Resource as HttpContext)?.GetRouteValue(RouteParameter) as string;
        if (user.IsInRole(LedgerRoles.Member)
            && Guid.TryParse(routeAccount, out var requested)
            && Guid.TryParse(user.FindFirstValue(LedgerClaims.AccountId), out var own)
            && requested == own)
        {
            context.Succeed(requirement);
        }
        else
        {
            context.Fail(new AuthorizationFailureReason(this, OtherAccount));
        }

        return Task.CompletedTask;
    }

    public const string OtherAccount = "A member's token reaches only the account it names.";
}

/// <summary>
/// A 403 says why (its problem's <c>detail</c>, written by <see cref="ProblemShape"/>): the roles the operation is for and the token's, or
/// that a member's token reaches only its own account. Nothing is said that the OpenAPI document does not already say.
/// </summary>
public sealed class ForbiddenReasons : IAuthorizationMiddlewareResultHandler
{
    public const string Item = "cpsledger.auth.forbidden";

    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Forbidden && authorizeResult.AuthorizationFailure is { } failure)
            context.Items[Item] = Describe(failure, context.User);
        return _default.HandleAsync(next, context, policy, authorizeResult);
    }

    private static string? Describe(AuthorizationFailure failure, ClaimsPrincipal user)
    {
        if (failure.FailedRequirements.OfType<RolesAuthorizationRequirement>().FirstOrDefault() is { } roles)
        {
            var held = LedgerRoles.All.Where(user.IsInRole).ToList();
            return $"This operation is for the roles {string.Join(" or ", roles.AllowedRoles)}; the token's roles are " +
                   $"{(held.Count == 0 ? "none" : string.Join(", ", held))}.";
        }
        return failure.FailureReasons.Select(r => r.Message).FirstOrDefault();
    }
}

/// <summary>Mints tokens signed with the configured development key (the <c>token</c> command, tests).</summary>
public sealed class DevTokenIssuer(IOptions<AuthOptions> options, TimeProvider clock)
{
    public string Issue(string subject, IEnumerable<string> roles, Guid? accountId = null, TimeSpan? lifetime = null)
    {
        var o = options.Value;
        var key = o.SymmetricKey
                  ?? throw new InvalidOperationException("Auth:SigningKey is not set; tokens come from the identity provider (Auth:Authority).");
        var claims = new List<Claim> { new(LedgerClaims.Subject, subject), new("name", subject) };
        claims.AddRange(roles.Select(r => new Claim(LedgerClaims.Role, r)));
        if (accountId is { } id)
            claims.Add(new Claim(LedgerClaims.AccountId, id.ToString()));

        var now = clock.GetUtcNow().UtcDateTime;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = string.IsNullOrEmpty(o.Issuer) ? null : o.Issuer,
            Audience = o.Audience,
            Subject = new ClaimsIdentity(claims),
            IssuedAt = now,
            NotBefore = now,
            Expires = now + (lifetime ?? o.DevTokenLifetime),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
    }
}
