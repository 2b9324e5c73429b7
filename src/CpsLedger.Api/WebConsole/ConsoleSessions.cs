using System.Security.Cryptography;
using System.Text;
using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Options;

namespace CpsLedger.Api.WebConsole;

/// <summary>
/// A signed-in console session, kept server-side: the browser's cookie holds only a random key, this row holds who signed in.
/// Signing out deletes the row, so a copy of the cookie is worthless afterwards; an idle or too old session is refused and
/// deleted.
/// </summary>
public sealed class ConsoleSession
{
    /// <summary>SHA-256 of the key in the cookie (hex): someone who can read this table still cannot present a session.</summary>
    public string Id { get; set; } = "";

    /// <summary>Who signed in (the id_token's name claim), for operators looking at the table.</summary>
    public string? Subject { get; set; }

    /// <summary>The serialized authentication ticket (claims and properties; no tokens are kept: SaveTokens is off).</summary>
    public byte[] Ticket { get; set; } = [];

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastSeenAt { get; set; }

    /// <summary>The absolute end of the session, whatever its activity.</summary>
    public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>What a stored session allows at a given moment (a pure decision).</summary>
public enum ConsoleSessionState
{
    Active,
    IdleTooLong,
    Expired,
}

/// <summary>
/// The console's <see cref="ITicketStore"/>: sessions as Marten documents in the ledger's PostgreSQL, so every node sees the same
/// sessions and a sign-out on one node ends the session on all of them. Time is the service's <see cref="TimeProvider"/>.
/// </summary>
public sealed class ConsoleTicketStore(IDocumentStore store, IOptions<ConsoleOptions> options, TimeProvider clock, ILogger<ConsoleTicketStore> logger)
    : ITicketStore
{
    /// <summary>Activity is written back at most this often per session (not on every request), bounded by a tenth of the idle timeout.</summary>
    public static TimeSpan TouchInterval(TimeSpan idleTimeout) => TimeSpan.FromTicks(Math.Min(TimeSpan.FromMinutes(1).Ticks, idleTimeout.Ticks / 10));

    public static ConsoleSessionState StateOf(ConsoleSession session, DateTimeOffset now, TimeSpan idleTimeout) =>
        now >= session.ExpiresAt ? ConsoleSessionState.Expired
        : now - session.LastSeenAt >= idleTimeout ? ConsoleSessionState.IdleTooLong
        : ConsoleSessionState.Active;

    public static string IdOf(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private ConsoleOidcOptions Settings => options.Value.Oidc;

    public Task<string> StoreAsync(AuthenticationTicket ticket) => StoreAsync(ticket, CancellationToken.None);

    public Task<string> StoreAsync(AuthenticationTicket ticket, CancellationToken cancellationToken) => StoreAsync(ticket, null!, cancellationToken);

    public async Task<string> StoreAsync(AuthenticationTicket ticket, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var now = clock.GetUtcNow();
        await using var session = store.LightweightSession();
        // Sign-ins are rare: a good moment to forget sessions nobody signed out of.
        var idleSince = now - Settings.IdleTimeout;
        session.DeleteWhere<ConsoleSession>(s => s.ExpiresAt <= now || s.LastSeenAt <= idleSince);
        session.Insert(new ConsoleSession
        {
            Id = IdOf(key),
            Subject = ticket.Principal.Identity?.Name,
            Ticket = TicketSerializer.Default.Serialize(ticket),
            CreatedAt = now,
            LastSeenAt = now,
            ExpiresAt = now + Settings.SessionLifetime,
        });
        await session.SaveChangesAsync(cancellationToken);
        logger.LogInformation("Console session started for {Subject}", ticket.Principal.Identity?.Name);
        return key;
    }

    public Task RenewAsync(string key, AuthenticationTicket ticket) => RenewAsync(key, ticket, CancellationToken.None);

    public Task RenewAsync(string key, AuthenticationTicket ticket, CancellationToken cancellationToken) =>
        RenewAsync(key, ticket, null!, cancellationToken);

    /// <summary>The cookie handler renews the ticket it holds; the session keeps its start and its absolute end.</summary>
    public async Task RenewAsync(string key, AuthenticationTicket ticket, HttpContext httpContext, CancellationToken cancellationToken)
    {
        await using var session = store.LightweightSession();
        if (await session.LoadAsync<ConsoleSession>(IdOf(key), cancellationToken) is not { } stored)
            return;
        stored.Ticket = TicketSerializer.Default.Serialize(ticket);
        stored.LastSeenAt = clock.GetUtcNow();
        session.Store(stored);
        await session.SaveChangesAsync(cancellationToken);
    }

    public Task<AuthenticationTicket?> RetrieveAsync(string key) => RetrieveAsync(key, CancellationToken.None);

    public Task<AuthenticationTicket?> RetrieveAsync(string key, CancellationToken cancellationToken) => RetrieveAsync(key, null!, cancellationToken);

    public async Task<AuthenticationTicket?> RetrieveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var session = store.LightweightSession();
        if (await session.LoadAsync<ConsoleSession>(IdOf(key), cancellationToken) is not { } stored)
            return null;

        var state = StateOf(stored, now, Settings.IdleTimeout);
        if (state != ConsoleSessionState.Active)
        {
            session.Delete(stored);
            await session.SaveChangesAsync(cancellationToken);
            logger.LogInformation("Console session of {Subject} ended: {State}", stored.Subject, state);
            return null;
        }

        if (now - stored.LastSeenAt >= TouchInterval(Settings.IdleTimeout))
        {
            stored.LastSeenAt = now;
            session.Store(stored);
            await session.SaveChangesAsync(cancellationToken);
        }

        return TicketSerializer.Default.Deserialize(stored.Ticket);
    }

    public Task RemoveAsync(string key) => RemoveAsync(key, CancellationToken.None);

    public Task RemoveAsync(string key, CancellationToken cancellationToken) => RemoveAsync(key, null!, cancellationToken);

    public async Task RemoveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken)
    {
        await using var session = store.LightweightSession();
        session.Delete<ConsoleSession>(IdOf(key));
        await session.SaveChangesAsync(cancellationToken);
    }
}

public static class ConsoleSessions
{
    /// <summary>The session table exists in every environment (one schema, one set of migrations); the store is used where OIDC is on.</summary>
    public static void AddConsoleSessions(this WebApplicationBuilder builder)
    {
        builder.Services.ConfigureMarten(opts => opts.Schema.For<ConsoleSession>());
        builder.Services.AddSingleton<ConsoleTicketStore>();
        builder.Services.AddOptions<CookieAuthenticationOptions>(ConsoleSetup.CookieScheme)
            .Configure<ConsoleTicketStore>((cookie, sessions) => cookie.SessionStore = sessions);
    }
}
