using JasperFx.CommandLine;
using Microsoft.Extensions.DependencyInjection;

namespace CpsLedger.Api.Platform;

public sealed class TokenInput : NetCoreInput
{
    [Description("Role(s) of the caller: member, support, auditor, finance, portal (repeatable)")]
    public List<string> RoleFlag { get; set; } = [];

    [Description("Account id a member token is bound to")]
    public Guid? AccountFlag { get; set; }

    [Description("Subject (user name) recorded on the events this caller writes")]
    public string? SubjectFlag { get; set; }

    [Description("Lifetime in hours (default from Auth:DevTokenLifetime)")]
    public int? HoursFlag { get; set; }
}

[Description("Prints a development bearer token signed with Auth:SigningKey", Name = "token")]
public sealed class TokenCommand : JasperFxAsyncCommand<TokenInput>
{
    public override async Task<bool> Execute(TokenInput input)
    {
        var roles = input.RoleFlag.Count == 0 ? [LedgerRoles.Member] : input.RoleFlag;
        var unknown = roles.Where(r => !LedgerRoles.All.Contains(r)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"Unknown role(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", LedgerRoles.All)}.");
        if (roles.Contains(LedgerRoles.Member) && input.AccountFlag is null)
            throw new ArgumentException("A member token needs --account <account id>.");

        using var host = input.BuildHost();
        var issuer = host.Services.GetRequiredService<DevTokenIssuer>();
        var token = issuer.Issue(
            input.SubjectFlag ?? $"dev-{string.Join("-", roles)}",
            roles,
            input.AccountFlag,
            input.HoursFlag is { } hours ? TimeSpan.FromHours(hours) : null);

        // The token is this command's output (for `$(...)` in a shell), not a log line.
        await Console.Out.WriteLineAsync(token);
        return true;
    }
}
