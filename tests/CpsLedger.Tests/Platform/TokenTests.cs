using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using JasperFx.CommandLine;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CpsLedger.Tests.Platform;

/// <summary>Tokens: how long past expiry one is still accepted, and the development token command.</summary>
public sealed class TokenTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient With(string token)
    {
        var client = App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>A support token that expired <paramref name="ago"/> ago (on real time: the token validation's clock).</summary>
    private string ExpiredAgo(TimeSpan ago)
    {
        var issuedAt = DateTimeOffset.UtcNow - TimeSpan.FromHours(1);
        return new DevTokenIssuer(App.Services.GetRequiredService<IOptions<AuthOptions>>(), new FixedClock(issuedAt))
            .Issue("late", [LedgerRoles.Support], lifetime: TimeSpan.FromHours(1) - ago);
    }

    [Fact]
    public async Task A_token_is_accepted_at_most_five_seconds_after_it_expired()
    {
        var options = App.Services.GetRequiredService<IOptionsMonitor<JwtBearerOptions>>().Get(JwtBearerDefaults.AuthenticationScheme);
        Assert.Equal(TimeSpan.FromSeconds(5), options.TokenValidationParameters.ClockSkew);

        await (await With(ExpiredAgo(TimeSpan.FromSeconds(-60))).GetAsync("/api/me")).ShouldBe(HttpStatusCode.OK);
        await (await With(ExpiredAgo(TimeSpan.FromSeconds(20))).GetAsync("/api/me")).ShouldBe(HttpStatusCode.Unauthorized);
        await (await With(ExpiredAgo(TimeSpan.FromSeconds(8))).GetAsync("/api/me")).ShouldBe(HttpStatusCode.Unauthorized);
    }

    /// <summary>A portal token signed with the service's key, valid in every way, whose subject is <paramref name="subject"/> (none when null).</summary>
    private string PortalTokenWithSubject(string? subject)
    {
        var o = App.Services.GetRequiredService<IOptions<AuthOptions>>().Value;
        var claims = new List<Claim> { new(LedgerClaims.Role, LedgerRoles.Portal) };
        if (subject is not null)
            claims.Add(new Claim(LedgerClaims.Subject, subject));
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = string.IsNullOrEmpty(o.Issuer) ? null : o.Issuer,
            Audience = o.Audience,
            Subject = new ClaimsIdentity(claims),
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddHours(1),
            SigningCredentials = new SigningCredentials(o.SymmetricKey, SecurityAlgorithms.HmacSha256),
        });
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("system:invoicing")]
    public async Task A_token_without_a_person_as_its_subject_is_refused_and_writes_nothing(string? subject)
    {
        // Every change records its caller's sub: a token without one would write events by nobody, and one named like the
        // ledger's own actor would pass a person's change off as the system's in the history an auditor reads.
        var client = With(PortalTokenWithSubject(subject));
        await (await client.GetAsync("/api/me")).ShouldBe(HttpStatusCode.Unauthorized);

        var request = new HttpRequestMessage(HttpMethod.Post, "/api/accounts")
        {
            Content = new StringContent("""{"companyName":"Nobody OU","contactEmail":"nobody@example.ee","country":"EE"}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Correlation-Id", "no-subject");
        await (await client.SendAsync(request)).ShouldBe(HttpStatusCode.Unauthorized);

        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var written = new Npgsql.NpgsqlCommand(
            $"select count(*) from {App.SchemaName}.mt_events where correlation_id = 'no-subject'", connection);
        Assert.Equal(0L, (long)(await written.ExecuteScalarAsync())!);

        // Nor does the development token command mint one.
        if (subject is not null)
        {
            var factory = new CommandFactory();
            factory.RegisterCommand<TokenCommand>();
            var input = (TokenInput)factory.BuildRun(["token", "--role", "portal"]).Input;
            input.SubjectFlag = subject;
            Assert.Throws<ArgumentException>(() => TokenCommand.Describe(input));
        }
    }

    [Fact]
    public void The_clock_skew_setting_is_checked_at_start_up()
    {
        var validate = App.Services.GetRequiredService<IEnumerable<IValidateOptions<AuthOptions>>>();
        bool Valid(TimeSpan skew) => validate.All(v =>
            !v.Validate(Options.DefaultName, new AuthOptions { SigningKey = new string('k', 40), ClockSkew = skew }).Failed);

        Assert.True(Valid(TimeSpan.Zero));
        Assert.True(Valid(TimeSpan.FromSeconds(5)));
        Assert.False(Valid(TimeSpan.FromSeconds(-1)));
        Assert.False(Valid(TimeSpan.FromMinutes(5)));
    }

    [Theory]
    [InlineData("token --role support --role auditor")]
    [InlineData("token --role support auditor")]
    [InlineData("token --role support --role auditor --role support")]
    public async Task The_role_flag_is_repeatable_and_the_token_carries_every_role(string commandLine)
    {
        var factory = new CommandFactory();
        factory.RegisterCommand<TokenCommand>();
        var run = factory.BuildRun(commandLine.Split(' '));
        var input = Assert.IsType<TokenInput>(run.Input);

        var (subject, roles, _, _) = TokenCommand.Describe(input);
        Assert.Equal([LedgerRoles.Support, LedgerRoles.Auditor], roles);
        Assert.Equal("dev-support-auditor", subject);

        // The token minted from it is both: the API sees both roles.
        var token = App.Services.GetRequiredService<DevTokenIssuer>().Issue(subject, roles);
        var me = await With(token).GetAsync("/api/me").ReadAs<CurrentUser>();
        Assert.Equal([LedgerRoles.Support, LedgerRoles.Auditor], me.Roles);
    }

    [Fact]
    public void Without_a_role_the_token_is_a_members_and_a_member_needs_an_account()
    {
        var factory = new CommandFactory();
        factory.RegisterCommand<TokenCommand>();
        var input = (TokenInput)factory.BuildRun(["token"]).Input;
        Assert.Throws<ArgumentException>(() => TokenCommand.Describe(input));

        var account = Guid.NewGuid();
        input = (TokenInput)factory.BuildRun(["token", "--account", account.ToString()]).Input;
        var member = TokenCommand.Describe(input);
        Assert.Equal([LedgerRoles.Member], member.Roles);
        Assert.Equal(account, member.AccountId);
        Assert.Throws<ArgumentException>(() => TokenCommand.Describe((TokenInput)factory.BuildRun(["token", "--role", "root"]).Input));
    }

    [Fact]
    public async Task A_token_the_command_cannot_mint_is_refused_with_the_reason_and_no_stack_trace()
    {
        var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "token", "--role", "member");
        Assert.NotEqual(0, exit);
        Assert.Contains("A member token needs --account <account id>.", output);
        Assert.DoesNotMatch(@"(?m)^\s+at ", output);

        (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "token", "--role", "root");
        Assert.NotEqual(0, exit);
        Assert.Contains("Unknown role(s): root.", output);
        Assert.DoesNotMatch(@"(?m)^\s+at ", output);

        // A lifetime of no hours made a token already expired, or one expiring before it is valid: the service's 401 then spoke
        // of NotBefore and Expires, not of the --hours given.
        foreach (var hours in new[] { "0", "-1" })
        {
            (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "token", "--role", "portal", "--hours", hours);
            Assert.NotEqual(0, exit);
            Assert.Contains($"--hours must be at least 1, not {hours}", output);
            Assert.DoesNotMatch(@"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.", output);
        }
    }

    [Fact]
    public async Task A_development_token_made_in_another_folder_is_printed_alone_on_stdout_and_accepted_by_the_development_service()
    {
        // Seen 2026-12-05: `dotnet src/CpsLedger.Api/bin/.../CpsLedger.Api.dll token` run from the repository root read no
        // appsettings*.json (the folder it ran in was its content root), had no key, and the last line of what it printed was
        // taken for a token. The test host reads the project's own settings, as `dotnet run` does.
        var elsewhere = Directory.CreateTempSubdirectory("cpsledger-elsewhere-");
        try
        {
            var (exit, output, error) = await ServiceProcess.RunAsync(elsewhere.FullName,
                new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Development" }, "token", "--role", "support");
            Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");

            // The token and a newline, nothing else: `PORTAL=$(... token --role portal)` needs no `tail -n 1`. The tooling's own
            // lines (JasperFx's "Searching ... for commands", logs) go to stderr.
            Assert.Matches(@"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n\z", output);
            var token = output.TrimEnd('\n');
            var me = await With(token).GetAsync("/api/me").ReadAs<CurrentUser>();
            Assert.Equal("dev-support", me.Name);
            Assert.Equal([LedgerRoles.Support], me.Roles);
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Where_the_environment_has_no_signing_key_the_token_command_says_so_and_prints_no_token()
    {
        // Production has no development key (tokens come from the identity provider): a run of the dll without
        // ASPNETCORE_ENVIRONMENT is Production, where `dotnet run` is Development (launchSettings.json).
        var elsewhere = Directory.CreateTempSubdirectory("cpsledger-elsewhere-");
        try
        {
            var (exit, output, error) = await ServiceProcess.RunAsync(elsewhere.FullName,
                new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Production" }, "token", "--role", "support");
            Assert.NotEqual(0, exit);
            Assert.Contains("Auth:SigningKey", error);
            Assert.Contains("Production", error);
            Assert.DoesNotContain("eyJ", output);
            Assert.DoesNotMatch(@"(?m)^\s+at ", output + error);
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }

    private string SignedWith(SymmetricSecurityKey key, string subject = "dev-support")
    {
        var o = App.Services.GetRequiredService<IOptions<AuthOptions>>().Value;
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = string.IsNullOrEmpty(o.Issuer) ? null : o.Issuer,
            Audience = o.Audience,
            Subject = new ClaimsIdentity([new Claim(LedgerClaims.Subject, subject), new Claim(LedgerClaims.Role, LedgerRoles.Support)]),
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddHours(1),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer ")]
    public async Task A_request_without_a_token_is_told_it_carries_none(string? authorization)
    {
        // An empty token, as `$(...)` gives when the command printed none.
        var client = App.CreateClient();
        if (authorization is not null)
            client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", authorization);

        var response = await client.GetAsync("/api/me");
        var problem = await response.ShouldBeProblem(HttpStatusCode.Unauthorized);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).ToString());
        Assert.Contains("no bearer token", problem.GetProperty("detail").GetString());
    }

    public static TheoryData<string, string> RefusedTokens => new()
    {
        { "not a token", "not a JSON Web Token" },
        // A token of another environment's key, and this service's own token changed after signing: said as what the token
        // shows (until 2026-12-08 ASP.NET Core's "The signature key was not found", which reads as the service missing a key).
        { "another key", "signature does not verify" },
        { "altered", "signature does not verify" },
        { "expired", "expired" },
        { "system subject", "the ledger's own actor" },
    };

    [Fact]
    public async Task An_expired_token_is_told_when_it_expired_in_UTC_as_ISO_8601()
    {
        // ASP.NET Core said "The token expired at '12/08/2026 00:08:35'": month first, and no zone, to a portal in Europe.
        var expiredAt = DateTimeOffset.UtcNow - TimeSpan.FromMinutes(1);
        var response = await With(ExpiredAgo(TimeSpan.FromMinutes(1))).GetAsync("/api/me");
        var problem = await response.ShouldBeProblem(HttpStatusCode.Unauthorized);
        var detail = problem.GetProperty("detail").GetString()!;
        var match = System.Text.RegularExpressions.Regex.Match(detail, @"^The token expired at (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)\.$");
        Assert.True(match.Success, detail);
        var said = DateTimeOffset.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(said, expiredAt - TimeSpan.FromSeconds(5), expiredAt + TimeSpan.FromSeconds(5));
        Assert.Contains(detail, Assert.Single(response.Headers.WwwAuthenticate).ToString());
    }

    /// <summary>The token with one character of its signature changed (not the last, whose low bits may not count).</summary>
    private static string Altered(string token)
    {
        var at = token.LastIndexOf('.') + 5;
        return token[..at] + (token[at] == 'A' ? 'B' : 'A') + token[(at + 1)..];
    }

    [Theory]
    [MemberData(nameof(RefusedTokens))]
    public async Task A_refused_token_is_told_why_in_the_challenge_and_the_problem(string kind, string reason)
    {
        var token = kind switch
        {
            // What a failed token command's last printed line looked like.
            "not a token" => "run) in /_/src/JasperFx/CommandLine/CommandExecutor.cs:38",
            "another key" => SignedWith(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(new string('x', 48)))),
            "altered" => Altered(App.Services.GetRequiredService<DevTokenIssuer>().Issue("mallory", [LedgerRoles.Portal])),
            "expired" => ExpiredAgo(TimeSpan.FromMinutes(1)),
            _ => SignedWith(App.Services.GetRequiredService<IOptions<AuthOptions>>().Value.SymmetricKey!, "system:invoicing"),
        };
        var client = App.CreateClient();
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", $"Bearer {token}");

        var response = await client.GetAsync("/api/me");
        var problem = await response.ShouldBeProblem(HttpStatusCode.Unauthorized);
        var challenge = Assert.Single(response.Headers.WwwAuthenticate).ToString();
        Assert.Contains("error=\"invalid_token\"", challenge);
        Assert.Contains(reason, challenge, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(reason, problem.TryGetProperty("detail", out var detail) ? detail.GetString() : "", StringComparison.OrdinalIgnoreCase);
    }
}
