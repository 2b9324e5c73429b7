using System.Reflection;
using CpsLedger.Api.Support;
using JasperFx.Events;
using Marten;

namespace CpsLedger.Tests.Support;

public sealed class SupportOverrideRulesTests
{
    [Fact]
    public void The_events_verification_expects_override_rows_of_are_exactly_those_the_projection_writes_them_for()
    {
        // Verification replays the rows of OnBehalfEvents; the projection writes them in its Project methods: the two lists agree.
        var projected = typeof(SupportOverrideProjection).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.Name == "Project" && m.GetParameters() is [{ ParameterType.IsGenericType: true } e, _]
                                            && e.ParameterType.GetGenericTypeDefinition() == typeof(IEvent<>)
                                            && m.GetParameters()[1].ParameterType == typeof(IDocumentOperations))
            .Select(m => m.GetParameters()[0].ParameterType.GetGenericArguments()[0].Name)
            .Order();
        Assert.Equal(SupportOverrideProjection.OnBehalfEvents.Select(t => t.Name).Order(), projected);
    }
}
