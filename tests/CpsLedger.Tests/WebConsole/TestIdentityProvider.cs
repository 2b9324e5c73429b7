using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace CpsLedger.Tests.WebConsole;

/// <summary>
/// A small OpenID Connect provider on a loopback port, standing in for the organisation's identity provider: discovery,
/// keys, an authorization endpoint that signs in <see cref="Subject"/> at once, and a token endpoint that checks the code, the
/// client secret and PKCE before issuing an RS256 id_token with the subject's roles. The console's own OpenID Connect
/// handler (ASP.NET Core's) is what is under test; this only plays the other side of the protocol.
/// </summary>
public sealed class TestIdentityProvider : IAsyncDisposable
{
    public const string ClientId = "cpsledger-console";
    public const string ClientSecret = "test-client-secret";

    private readonly WebApplication _app;
    private readonly RSA _rsa = RSA.Create(2048);
    private readonly ConcurrentDictionary<string, (string Nonce, string Challenge, string RedirectUri)> _codes = new();

    public string Issuer { get; private set; } = "";

    /// <summary>Who signs in next, and with which ledger roles.</summary>
    public string Subject { get; set; } = "ines";

    public string[] Roles { get; set; } = ["auditor"];

    /// <summary>Token requests refused (wrong code, secret or PKCE verifier): a test asserts none happened.</summary>
    public int RefusedTokenRequests { get; private set; }

    private TestIdentityProvider(WebApplication app) => _app = app;

    public static async Task<TestIdentityProvider> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var provider = new TestIdentityProvider(builder.Build());
        provider.Map();
        await provider._app.StartAsync();
        // The port is known once it listens; the endpoints read the issuer per request.
        provider.Issuer = provider._app.Urls.First().TrimEnd('/');
        return provider;
    }

    private void Map()
    {
        var key = new RsaSecurityKey(_rsa) { KeyId = "test-key" };
        var parameters = _rsa.ExportParameters(false);

        _app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = Issuer,
            ["authorization_endpoint"] = $"{Issuer}/authorize",
            ["token_endpoint"] = $"{Issuer}/token",
            ["jwks_uri"] = $"{Issuer}/jwks",
            ["response_types_supported"] = new[] { "code" },
            ["subject_types_supported"] = new[] { "public" },
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
            ["code_challenge_methods_supported"] = new[] { "S256" },
        }));

        _app.MapGet("/jwks", () => Results.Json(new
        {
            keys = new[]
            {
                new { kty = "RSA", use = "sig", alg = "RS256", kid = key.KeyId, n = Base64UrlEncoder.Encode(parameters.Modulus), e = Base64UrlEncoder.Encode(parameters.Exponent) },
            },
        }));

        _app.MapGet("/authorize", (HttpRequest request) =>
        {
            var q = request.Query;
            if (q["client_id"] != ClientId || q["response_type"] != "code" || q["code_challenge_method"] != "S256")
                return Results.BadRequest("unsupported authorization request");
            var code = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            _codes[code] = (q["nonce"].ToString(), q["code_challenge"].ToString(), q["redirect_uri"].ToString());
            return Results.Redirect($"{q["redirect_uri"]}?code={code}&state={Uri.EscapeDataString(q["state"].ToString())}&iss={Uri.EscapeDataString(Issuer)}");
        });

        _app.MapPost("/token", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            var (clientId, secret) = ClientCredentials(request, form);
            if (form["grant_type"] != "authorization_code" || clientId != ClientId || secret != ClientSecret
                || !_codes.TryRemove(form["code"].ToString(), out var issued) || issued.RedirectUri != form["redirect_uri"]
                || Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != issued.Challenge)
            {
                RefusedTokenRequests++;
                return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
            }

            var now = DateTime.UtcNow;
            var idToken = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
            {
                Issuer = Issuer,
                Audience = ClientId,
                IssuedAt = now,
                NotBefore = now,
                Expires = now.AddMinutes(5),
                Claims = new Dictionary<string, object>
                {
                    ["sub"] = Subject,
                    ["name"] = Subject,
                    ["nonce"] = issued.Nonce,
                    ["role"] = Roles,
                },
                SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
            });
            return Results.Json(new { access_token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)), token_type = "Bearer", expires_in = 300, id_token = idToken });
        });
    }

    private static (string? ClientId, string? Secret) ClientCredentials(HttpRequest request, IFormCollection form)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            var pair = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..])).Split(':', 2);
            return (Uri.UnescapeDataString(pair[0]), Uri.UnescapeDataString(pair[1]));
        }

        return (form["client_id"], form["client_secret"]);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _rsa.Dispose();
    }
}
