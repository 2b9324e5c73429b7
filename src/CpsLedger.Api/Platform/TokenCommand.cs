using JasperFx.CommandLine;
using Microsoft.Extensions.DependencyInjection;

namespace CpsLedger.Api.Platform;

public sealed class TokenInput : LedgerInput
{
    private readonly List<string> _roles = [];

    /// <summary>
    /// The command line parser sets a list flag once per occurrence, each time with only that occurrence's values; adding them
    /// up here is what makes <c>--role support --role auditor</c> (and <c>--role support auditor</c>) mint both roles.
    /// </summary>
    [Description("Role(s) of the caller: member, support, auditor, finance, portal (repeatable)")]
    public List<string> RoleFlag
    {
        get => _roles;
        set
        {
            foreach (var role in value.ToList())
            {
                if (!_roles.Contains(role))
                    _roles.Add(role);
            }
        }
    }

    [Description("Account id a member token is bound to")]
    // Long form only: -a is also NetCoreInput's --applicationname.
    [FlagAlias("account", true)]
    public Guid? AccountFlag { get; set; }

    [Description("Subject (user name) recorded on the events this caller writes")]
    public string? SubjectFlag { get; set; }

    [Description("Lifetime in hours (default from Auth:DevTokenLifetime)")]
    public int? HoursFlag { get; set; }
}

[Description("Prints a development bearer token signed with Auth:SigningKey", Name = "token")]
public sealed class TokenCommand : JasperFxAsyncCommand<TokenInput>
{
    /// <summary>What the token says: subject, roles (member when none is given), account, lifetime. Checks the roles.</summary>
    public static (string Subject, IReadOnlyList<string> Roles, Guid? AccountId, TimeSpan? Lifetime) Describe(TokenInput input)
    {
        IReadOnlyList<string> roles = input.RoleFlag.Count == 0 ? [LedgerRoles.Member] : [.. input.RoleFlag];
        var unknown = roles.Where(r => !LedgerRoles.All.Contains(r)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"Unknown role(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", LedgerRoles.All)}.");
        if (roles.Contains(LedgerRoles.Member) && input.AccountFlag is null)
            throw new ArgumentException("A member token needs --account <account id>.");
        // The service refuses such a token (LedgerClaims.RefuseSubject): say so here rather than mint one that gets 401.
        if (input.SubjectFlag is { } subject && LedgerClaims.RefuseSubject(subject) is { } refusal)
            throw new ArgumentException(refusal);
        if (input.HoursFlag is <= 0)
            throw new ArgumentException($"--hours must be at least 1, not {input.HoursFlag}: a token of no hours has expired when it is made.");
        return (input.SubjectFlag ?? $"dev-{string.Join("-", roles)}", roles, input.AccountFlag,
            input.HoursFlag is { } hours ? TimeSpan.FromHours(hours) : null);
    }

    /// <summary>Why this environment's service takes no development token, and where to get one.</summary>
    public static string NoDevelopmentTokens(AuthOptions auth, string environment, string contentRoot) =>
        (string.IsNullOrEmpty(auth.Authority)
            ? $"No development token in the {environment} environment: Auth:SigningKey is not set (or shorter than 32 bytes) in its settings (read from {contentRoot})."
            : $"No development token in the {environment} environment: Auth:Authority is set, so the service takes tokens from that identity provider only.")
        + " A development token is for the Development environment: `dotnet run --project src/CpsLedger.Api -- token ...`,"
        + " or ASPNETCORE_ENVIRONMENT=Development with the built dll.";

    public override async Task<bool> Execute(TokenInput input)
    {
        (string Subject, IReadOnlyList<string> Roles, Guid? AccountId, TimeSpan? Lifetime) described;
        try
        {
            described = Describe(input);
        }
        catch (ArgumentException refused)
        {
            // A mistake on the command line: the reason, not a stack trace (the command line prints one for any exception).
            await Console.Error.WriteLineAsync(refused.Message);
            return false;
        }

        var (subject, roles, accountId, lifetime) = described;

        using var host = input.BuildHost();
        // A token the service of this environment would refuse is no token: say why on stderr and print none, so that `$(...)`
        // holds nothing rather than something that is not a token.
        var auth = host.Services.GetRequiredService<IConfiguration>().GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        if (!auth.TakesDevelopmentTokens)
        {
            var environment = host.Services.GetRequiredService<IHostEnvironment>();
            await Console.Error.WriteLineAsync(NoDevelopmentTokens(auth, environment.EnvironmentName, environment.ContentRootPath));
            return false;
        }

        var issuer = host.Services.GetRequiredService<DevTokenIssuer>();
        var token = issuer.Issue(subject, roles, accountId, lifetime);

        // The token is this command's only output on stdout (for `$(...)` in a shell): logs and JasperFx's lines go to stderr
        // (Program.cs, Logging.cs).
        await Console.Out.WriteLineAsync(token);
        return true;
    }
}
